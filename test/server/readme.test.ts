/**
 * README.md held against the code and the real binary, for what test/protocol/docs.test.ts leaves out (it checks the
 * serve flags' variables, defaults and ranges, the transcribe / eval option lists and the metric names the registry
 * holds): `serve --help`, the in-process engine variables, the exit codes and the error README quotes, the API key
 * example, a real /metrics scrape and the plain HTTP endpoints, the npm scripts README names, and signals while the
 * model loads. The CLI runs as helpers' nodeArgsFor starts it (dist/ only when it is fresh, so no stale dist/ can
 * pass or fail these); the benchmark runs as npm runs it, from dist/.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import {
  constants as fsConstants, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EVAL_HELP } from '../../src/cli/eval-command.js';
import { IN_PROCESS_OPTIONS, inProcessConfig, TRANSCRIBE_HELP } from '../../src/cli/transcribe-command.js';
import { SESSION_DEFAULTS } from '../../src/protocol/messages.js';
import { parseApiKeys } from '../../src/server/api-keys.js';
import { DEFAULT_GATEWAY_CONFIG, GATEWAY_SETTINGS, packageRoot, resolveGatewayConfig } from '../../src/server/config.js';
import { startGateway } from '../../src/server/gateway.js';
import { DEFAULT_PIPELINE_DEPS } from '../../src/stream/session-pipeline.js';
import { CLI } from '../integration/helpers.js';
import { scriptedServices } from './helpers.js';

const ROOT = packageRoot();
const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const MODEL_DIR = path.join(ROOT, 'models', 'voxgate-conformer-ctc-en');
const FIXTURE_WAV = path.join(ROOT, 'test', 'fixtures', 'speech', 'asterisk-00029.wav');

interface Run { code: number; stdout: string; stderr: string }

function voxgate(args: string[]): Promise<Run> {
  return promisify(execFile)(process.execPath, [...CLI, ...args], { cwd: ROOT, timeout: 60_000 })
    .then((r) => ({ code: 0, ...r }), (e: Run) => e);
}

/** The backticked words of a text. */
const ticked = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** The text between `from` and the next `to` in README (both must be there). */
function between(from: string, to: string): string {
  expect(readme, from).toContain(from);
  const rest = readme.split(from)[1]!;
  expect(rest, to).toContain(to);
  return rest.split(to)[0]!;
}

/** Cells of the configuration table's row for `--flag`. */
function settingRow(flag: string): string[] {
  const line = readme.split('\n').find((l) => l.startsWith('| `--') && ticked(l.split('|')[1]!).includes(`--${flag}`));
  expect(line, flag).toBeDefined();
  return line!.split('|').slice(1, -1).map((c) => c.trim());
}

/** The `--flag` entry of a command's help, its continuation lines joined. */
function helpOption(help: string, flag: string): string {
  const m = new RegExp(`^ {2}--${flag} .*(?:\\n {20,}.*)*`, 'm').exec(help);
  expect(m, flag).not.toBeNull();
  return m![0].replace(/\s+/g, ' ');
}

describe('README.md "CLI reference" and "Configuration" against the binary', () => {
  it('serve --help lists every flag with its variable and the default the table gives (- where none or a component\'s)', async () => {
    const run = await voxgate(['serve', '--help']);
    expect(run.code).toBe(0);
    const lines = new Map([...run.stdout.matchAll(/^ {2}--(\S+) +.* \(env (\S+); default (.*)\)$/gm)]
      .map((m) => [m[1]!, { env: m[2]!, shown: m[3]! }]));
    expect([...lines.keys()].sort()).toEqual(GATEWAY_SETTINGS.map((s) => s.flag).sort());
    for (const s of GATEWAY_SETTINGS) {
      const documented = settingRow(s.flag)[2]!.replace(/`/g, '');
      const expected = s.key === 'modelDir' ? path.join(ROOT, documented.replace(/ under the package root$/, ''))
        : documented === 'none' || /^(pool|pipeline) default \(/.test(documented) ? '-'
          : documented.replace(/ \(1 on a 1-core machine\)$/, '');
      if (s.key === 'encoderWorkers' && DEFAULT_GATEWAY_CONFIG.encoderWorkers === 1) continue; // a 1-core machine
      expect(lines.get(s.flag), s.flag).toEqual({ env: s.env, shown: expected });
    }
  });

  it('gives the usage errors exit code 2 and quotes the configuration errors as serve prints them', async () => {
    const quoted = /exit code 1: `(voxgate: GW_ERR_BAD_CONFIG: [^`]+)`/.exec(readme)![1]!.replace(/\s+/g, ' ');
    const twice = /A flag given twice is refused \(`([^`]+)`, exit 1\)/.exec(readme)![1]!;
    const cases: [string[], number, string][] = [
      [[], 2, 'Usage: voxgate <command>'],
      [['no-such-command'], 2, 'unknown command'],
      [['serve', '--no-such-flag'], 2, 'Unknown option'],
      [['serve', '--port'], 2, 'argument missing'],
      [['transcribe'], 2, 'exactly one WAV file'],
      [['eval'], 2, 'exactly one manifest'],
      // README: "the command-line parser takes `--lm-token-bonus -0.5` for a missing value and exits 2"
      [['serve', '--lm-token-bonus', '-0.5'], 2, 'ambiguous'],
      // ... and `=` takes it: the run gets as far as the next bad value
      [['serve', '--lm-token-bonus=-0.5', '--max-sessions', '0'], 1, quoted],
      [['serve', '--port', '1', '--port', '2'], 1, `voxgate: ${twice}`],
    ];
    const runs = await Promise.all(cases.map(([args]) => voxgate(args)));
    cases.forEach(([args, code, text], i) => {
      expect({ args, code: runs[i]!.code }).toEqual({ args, code });
      expect(runs[i]!.stdout + runs[i]!.stderr, args.join(' ')).toContain(text);
    });
  }, 120_000);

  it('names as in-process engine variables exactly those transcribe and eval read, and which of them have no flag', () => {
    const text = between('In-process (without `--url`), the engine settings', 'are ignored');
    const [engine, ignored] = text.split('the listening and admission variables') as [string, string];
    const noFlag = ticked(/and ((?:`[A-Z_]+`,? )+)which have no flag here/.exec(engine.replace(/\s+/g, ' '))![1]!);
    /** Whether the in-process configuration takes `s` from the environment (a bad value fails it; a path is kept). */
    const read = (s: (typeof GATEWAY_SETTINGS)[number]): boolean => {
      if (s.kind === 'path') return inProcessConfig({}, { [s.env]: '/zz-readme-probe' })[s.key] === '/zz-readme-probe';
      try {
        inProcessConfig({}, { [s.env]: 'zz-readme-probe' });
        return false;
      } catch (e) {
        expect((e as Error).message).toContain(s.env);
        return true;
      }
    };
    const engineSettings = GATEWAY_SETTINGS.filter(read);
    expect(ticked(engine).filter((w) => /^[A-Z_]+$/.test(w)).sort()).toEqual(engineSettings.map((s) => s.env).sort());
    expect(noFlag.sort()).toEqual(engineSettings.filter((s) => !Object.hasOwn(IN_PROCESS_OPTIONS, s.flag))
      .map((s) => s.env).sort());
    for (const env of ticked(ignored)) expect(GATEWAY_SETTINGS.find((s) => s.env === env && !read(s)), env).toBeDefined();
  });

  it('gives in transcribe and eval --help the defaults the code uses', () => {
    const D = DEFAULT_GATEWAY_CONFIG;
    for (const help of [TRANSCRIBE_HELP, EVAL_HELP]) {
      const option = (flag: string): string => helpOption(help, flag);
      expect(option('beam-size')).toContain(`default: the server's, ${DEFAULT_PIPELINE_DEPS.beamSize})`);
      expect(option('lm-weight')).toContain(`default: the server's, ${D.lmWeight};`);
      expect(option('lm-token-bonus')).toContain(`default: the server's, ${D.lmTokenBonus})`);
      expect(option('decoder')).toContain(`default: the server's, ${D.decoder};`);
      expect(option('precision')).toContain(`default: ${D.precision})`);
      // the machine's own default (config.ts: 1 on a 1-core machine), as serve --help prints it
      expect(option('encoder-workers')).toContain(`default: the server's, ${D.encoderWorkers})`);
      expect(option('latency')).toContain(`default: the server's, ${SESSION_DEFAULTS.latency})`);
      expect(option('denoise')).toContain(`default: ${SESSION_DEFAULTS.denoise})`);
      expect(option('vad')).toContain(`cut only every ${SESSION_DEFAULTS.maxUtteranceMs / 1000} s`);
      expect(option('background-rejection-db')).toContain(`default: ${SESSION_DEFAULTS.backgroundRejectionDb}, off`);
    }
    const evalRow = readme.split('\n').find((l) => l.startsWith('| `voxgate eval '))!;
    const concurrency = /`N` sessions at a time(?:, [\d.]+)?, default (\d+)/.exec(evalRow)![1]!;
    expect(helpOption(EVAL_HELP, 'concurrency')).toMatch(new RegExp(`default ${concurrency}\\)$`));
  });

  it('parses the API key file example as the text after it describes', () => {
    const block = between('The API key file, for example:\n\n```\n', '```');
    const keys = parseApiKeys(block);
    const lines = block.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(/\s+/)[0]!);
    expect(keys.size).toBe(lines.length);
    const [rotatedA, rotatedB, bench] = lines.map((k) => keys.lookup(k));
    // "Keys of one `name` are one account and share its session count"
    expect(rotatedA).toEqual({ id: 'acme', maxSessions: 20 });
    expect(rotatedB).toEqual(rotatedA);
    // "A key without a name is its own account": `sha256:` and 8 hex digits of the key's digest
    expect(bench).toEqual({ id: expect.stringMatching(/^sha256:[0-9a-f]{8}$/), maxSessions: null });
  });
});

describe('README.md "Endpoints" against a real gateway', () => {
  it('serves every metric README names on /metrics, and the plain HTTP answers of the table', async () => {
    const gw = await startGateway(resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport: 'ws', logLevel: 'silent' }),
      { services: scriptedServices() });
    try {
      const base = `http://127.0.0.1:${gw.port}`;
      const scrape = await (await fetch(`${base}/metrics`)).text();
      const served = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
      const row = readme.split('\n').find((l) => l.startsWith('| `GET /metrics` |'))!;
      const named = ticked(row).filter((m) => m.startsWith('voxgate_')).map((m) => m.replace(/\{.*$/, ''));
      expect(named.length).toBeGreaterThan(0);
      expect(named.filter((m) => !served.has(m))).toEqual([]);
      expect(row).toContain('plus Node process metrics');
      expect([...served].some((m) => m.startsWith('process_') || m.startsWith('nodejs_'))).toBe(true);

      const healthz = await fetch(`${base}/healthz`);
      expect([healthz.status, await healthz.text()]).toEqual([200, '{"status":"ok"}']);
      const readyz = await fetch(`${base}/readyz`);
      expect([readyz.status, await readyz.text()]).toEqual([200, '{"status":"ready","sessions":0}']);
      // "HEAD gets the GET answer's status and headers (no body), any other method 405"
      const head = await fetch(`${base}/healthz`, { method: 'HEAD' });
      expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'application/json', '']);
      expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
    } finally {
      await gw.close();
    }
  });
});

describe('README.md commands', () => {
  const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
    .scripts;

  it('names only npm scripts package.json has, each running a file that exists', () => {
    const named = new Set([...readme.matchAll(/`npm (?:run ([a-z:-]+)|(start|test))\b/g)].map((m) => m[1] ?? m[2]!));
    expect(named.size).toBeGreaterThan(10);
    for (const name of named) {
      const script = scripts[name];
      expect(script, name).toBeDefined();
      // `node dist/X.js` is built from X.ts; `bash X.sh` runs X.sh
      const file = /^(?:node|bash) (\S+)/.exec(script!)?.[1];
      if (file === undefined) continue;
      const source = file.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect(existsSync(path.join(ROOT, source)), `${name}: ${source}`).toBe(true);
    }
  });

  // the built script, as npm runs it (it finds the corpus from dist/bench/; `npx tsc -p tsconfig.build.json` first)
  it('npm run bench:large-frame prints its table (a 1 MiB frame ends its session before session.end is sent)', async () => {
    const script = /^node (\S+)$/.exec(scripts['bench:large-frame']!)![1]!;
    const run = await promisify(execFile)(process.execPath, [path.join(ROOT, script)], { cwd: ROOT, timeout: 170_000 })
      .then((r) => ({ code: 0, ...r }), (e: Run) => e);
    expect({ code: run.code, error: /^\w*Error: .*$/m.exec(run.stderr)?.[0] }).toEqual({ code: 0, error: undefined });
    expect(run.stdout).toMatch(/1024 KiB = .* GW_ERR_BACKLOG after/);
  }, 180_000);
});

/**
 * A model directory whose model.onnx is a FIFO: the main thread's metadata read and the encoder worker's ONNX Runtime
 * load each open it and wait for the test to write the model. So a signal can be sent while the worker is, for sure,
 * inside InferenceSession.create (no timing guess), and the load finishes only when the test lets it.
 */
function fifoModelDir(): { dir: string; fifo: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'voxgate-readme-model-'));
  copyFileSync(path.join(MODEL_DIR, 'tokens.txt'), path.join(dir, 'tokens.txt'));
  const fifo = path.join(dir, 'model.onnx');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
  return { dir, fifo };
}

/** Resolves once process `pid` holds no descriptor of `file` (its reader closed it). */
async function released(pid: number, file: string): Promise<void> {
  const holds = (): boolean => readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
    } catch {
      return false; // closed while listed
    }
  });
  while (holds()) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Runs voxgate `args` (with `--model` the FIFO directory) up to the worker's model load, sends `signal` there, waits
 * for `said` in its output (the handler ran), then lets the load finish; resolves with how the process ended.
 */
async function signalDuringLoad(args: string[], signal: NodeJS.Signals, said: string):
  Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  const { dir, fifo } = fifoModelDir();
  const model = readFileSync(path.join(MODEL_DIR, 'model.int8.onnx')); // as model.onnx: the smaller file loads sooner
  const child = spawn(process.execPath, [...CLI, ...args, '--model', dir, '--precision', 'fp32', '--encoder-workers', '1'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, sig) => { gone = true; resolve({ code, signal: sig }); });
  });
  try {
    const first = await open(fifo, 'w'); // the main thread's metadata read
    await first.writeFile(model);
    await first.close();
    await released(child.pid!, fifo);
    const second = await open(fifo, 'w'); // opens once ONNX Runtime opened the file: the load is under way
    child.kill(signal);
    while (!output.includes(said) && !gone) await new Promise((r) => setTimeout(r, 20));
    await second.writeFile(model).catch(() => undefined); // EPIPE when the process is gone already
    await second.close();
    return { ...(await exited), output };
  } finally {
    child.kill('SIGKILL');
    // a writer's open still waiting for a reader would hold a thread of the test's pool: give it one
    const reader = await open(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK).catch(() => undefined);
    await reader?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('README.md: a signal while the model loads', () => {
  it('serve: SIGTERM while the encoder worker loads the model exits 0 ("no session is open and it exits 0 without serving")',
    async () => {
      const run = await signalDuringLoad(['serve', '--host', '127.0.0.1', '--port', '0', '--transport', 'ws'], 'SIGTERM',
        '"signal received"');
      expect(run.output).not.toContain('terminate called');
      expect({ code: run.code, signal: run.signal }).toEqual({ code: 0, signal: null });
    }, 60_000);

  it('transcribe: SIGINT while the in-process model loads exits 130 ("a signal exits 130 / 143 with a one-line notice")', async () => {
    const run = await signalDuringLoad(['transcribe', FIXTURE_WAV], 'SIGINT', 'no audio was sent');
    expect(run.output).not.toContain('terminate called');
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 130, signal: null });
  }, 60_000);
});
