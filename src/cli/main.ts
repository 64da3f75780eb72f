#!/usr/bin/env node
/**
 * The `voxgate` command: `serve`, `transcribe`, `eval` (each with `--help`).
 */
import { parseArgs } from 'node:util';
import { GatewayError, isGatewayError } from '../protocol/errors.js';
import { DEFAULT_GATEWAY_CONFIG, defaultModelDir, GATEWAY_SETTINGS, gatewayConfigFromSources } from '../server/config.js';
import { startGateway, type Gateway } from '../server/gateway.js';
import { createLogger } from '../server/logger.js';
import { EVAL_HELP, runEval } from './eval-command.js';
import { exitWhenSafe } from './interrupts.js';
import { IN_PROCESS_OPTIONS, runTranscribe, SESSION_OPTIONS, TRANSCRIBE_HELP } from './transcribe-command.js';

const MAIN_HELP = `Usage: voxgate <command> [options]

Commands:
  serve                  run the streaming gateway (WebSocket /v1/stream, /healthz, /readyz, /metrics)
  transcribe FILE.wav    stream a WAV file and print partials and finals
  eval MANIFEST.tsv      transcribe a manifest and print WER per set

Run \`voxgate <command> --help\` for the options of each.
`;

function serveHelp(): string {
  const defaults: Record<string, unknown> = { ...DEFAULT_GATEWAY_CONFIG, modelDir: defaultModelDir() };
  const lines = GATEWAY_SETTINGS.map((s) => {
    const d = defaults[s.key];
    const shown = d === undefined || d === null ? '-' : String(d);
    return `  --${s.flag.padEnd(26)} ${s.help} (env ${s.env}; default ${shown})`;
  });
  return `Usage: voxgate serve [options]\n\nFlags win over environment variables, which win over defaults.\n\n${lines.join('\n')}\n`
    + '  -h, --help                   this help\n';
}

/** Exit code 2: the command line itself is wrong. */
class UsageError extends Error {}

/**
 * Refuses a flag given twice: parseArgs keeps the last value, so a script that appended `--port 2` to a base command
 * line with `--port 1` ran with one of them without a word. No flag of voxgate is repeatable.
 */
function refuseRepeats(tokens: readonly { kind: string; name?: string; value?: string | undefined }[]): void {
  const seen = new Map<string, string | undefined>();
  for (const t of tokens) {
    if (t.kind !== 'option' || t.name === undefined) continue;
    if (seen.has(t.name)) {
      const first = seen.get(t.name);
      const values = first === undefined || t.value === undefined ? ''
        : ` (${JSON.stringify(first)}, then ${JSON.stringify(t.value)})`;
      throw new GatewayError('GW_ERR_BAD_CONFIG', `--${t.name} given twice${values}: a flag may be given once`);
    }
    seen.set(t.name, t.value);
  }
}

/** A signal repeated within this long of the first is a copy of it (see serve's onSignal), not a second one. */
const REPEATED_SIGNAL_MS = 500;

/** 128 + SIGPIPE: how a tool killed by SIGPIPE exits; Node ignores the signal, its writes fail with EPIPE instead. */
const CLOSED_PIPE_EXIT_CODE = 141;

/**
 * The reader of the output went away (`voxgate transcribe f.wav | head -1`): the next write raised EPIPE as an
 * unhandled 'error' event, a stack trace and exit 1. `onClosed` runs instead (once) and what nobody reads is dropped.
 * Other write errors (a full disk: ENOSPC) stay fatal, said in one line on the other stream where it still works.
 */
function onClosedOutput(onClosed: () => void): void {
  let closed = false;
  for (const [stream, name, other] of [[process.stdout, 'stdout', process.stderr],
    [process.stderr, 'stderr', null]] as const) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') {
        other?.write(`voxgate: GW_ERR_INTERNAL: cannot write to ${name}: ${err.message}\n`);
        process.exit(1);
      }
      if (!closed) onClosed();
      closed = true;
    });
  }
}

async function serve(args: string[]): Promise<number> {
  const options = Object.fromEntries(GATEWAY_SETTINGS.map((s) => [s.flag, { type: 'string' as const }]));
  const { values, tokens } = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } },
    strict: true, tokens: true });
  refuseRepeats(tokens);
  if (values.help === true) {
    process.stdout.write(serveHelp());
    return 0;
  }
  const config = gatewayConfigFromSources(values as Record<string, string | undefined>);
  const log = createLogger({ level: config.logLevel });
  // Last-resort guard: a bug in one session's async path must not take down every other session. Sessions already
  // catch their own errors; anything reaching here is logged loudly instead of crashing the process.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception (process kept alive)'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection (process kept alive)'));
  // The handlers go in before the model loads (seconds): Node's default action for these signals ends the process by
  // the signal, so a rollout's SIGTERM or a key rotation's SIGHUP during the load killed the server unlogged.
  let gateway: Gateway | null = null;
  let reloadWhenReady = false;
  let first: { signal: NodeJS.Signals; atMs: number } | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (first !== null) {
      // Ctrl-C on `npm start` reaches every process of the terminal's group, the gateway included, and npm forwards
      // its own copy: the same signal twice within moments is one request, not a second asking to exit at once.
      if (signal === first.signal && performance.now() - first.atMs < REPEATED_SIGNAL_MS) return;
      log.warn({ signal }, 'second signal: exiting now');
      exitWhenSafe(1);
      return;
    }
    first = { signal, atMs: performance.now() };
    log.info({ signal }, 'signal received');
    // Still loading: upgrades get 503 until the model is ready, so no session is open and there is nothing to drain.
    if (gateway === null) {
      exitWhenSafe(0);
      return;
    }
    const deadline = setTimeout(() => {
      log.error('drain did not finish before its hard deadline; exiting');
      process.exit(1);
    }, config.drainTimeoutMs + 10_000);
    deadline.unref();
    gateway.drain().then(() => process.exit(0), (err: unknown) => {
      log.error({ err }, 'drain failed');
      process.exit(1);
    });
  };
  // Key rotation without a restart: open sessions keep running, new upgrades see the new file. During the load the
  // file was read already (before listening), maybe before the rotation: read it again once the gateway is up.
  const onHangup = (): void => {
    if (gateway === null) reloadWhenReady = true;
    else gateway.reloadApiKeys().catch((err: unknown) => log.error({ err }, 'API keys not reloaded; the old keys stay'));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHangup);
  gateway = await startGateway(config, { logger: log });
  if (reloadWhenReady) onHangup();
  return new Promise<number>(() => { /* runs until a signal */ });
}

async function transcribe(args: string[]): Promise<number> {
  // its output is all it makes: transcribing on for nobody would hold up `| head -1` for the whole file
  onClosedOutput(() => process.exit(CLOSED_PIPE_EXIT_CODE));
  const { values, positionals, tokens } = parseArgs({
    args, allowPositionals: true, strict: true, tokens: true,
    options: {
      url: { type: 'string' }, 'api-key': { type: 'string' }, realtime: { type: 'boolean' }, json: { type: 'boolean' },
      numerals: { type: 'boolean' }, multichannel: { type: 'boolean' }, alternatives: { type: 'string' },
      ...SESSION_OPTIONS, ...IN_PROCESS_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  });
  refuseRepeats(tokens);
  if (values.help === true) {
    process.stdout.write(TRANSCRIBE_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`transcribe takes exactly one WAV file\n\n${TRANSCRIBE_HELP}`);
  return runTranscribe(positionals[0]!, values);
}

async function evalCommand(args: string[]): Promise<number> {
  // the run goes on: its --out / --json, written after the summary, are the result of what may be hours of work
  onClosedOutput(() => undefined);
  const { values, positionals, tokens } = parseArgs({
    args, allowPositionals: true, strict: true, tokens: true,
    options: {
      out: { type: 'string' }, json: { type: 'string' }, url: { type: 'string' }, 'api-key': { type: 'string' },
      concurrency: { type: 'string' }, alternatives: { type: 'string' }, ...SESSION_OPTIONS, ...IN_PROCESS_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  });
  refuseRepeats(tokens);
  if (values.help === true) {
    process.stdout.write(EVAL_HELP);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`eval takes exactly one manifest\n\n${EVAL_HELP}`);
  return runEval(positionals[0]!, values);
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve': return await serve(rest);
      case 'transcribe': return await transcribe(rest);
      case 'eval': return await evalCommand(rest);
      case undefined: case '-h': case '--help': case 'help':
        process.stdout.write(MAIN_HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"\n\n${MAIN_HELP}`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`voxgate: ${(e as Error).message}\n`);
      return 2;
    }
    const err = isGatewayError(e) ? e : new GatewayError('GW_ERR_INTERNAL', (e as Error)?.message ?? String(e));
    process.stderr.write(`voxgate: ${err.code}: ${err.message}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (e: unknown) => {
  process.stderr.write(`voxgate: ${String(e)}\n`);
  process.exitCode = 1;
});
