/**
 * `voxgate transcribe FILE.wav`: streams a WAV to a server (`--url`) or through the in-process pipeline and prints
 * partials (one overwritten line on a TTY, one line each otherwise) and finals as they arrive.
 */
import { GatewayError, isGatewayError } from '../protocol/errors.js';
import {
  DENOISE_MODES, LATENCY_CHUNK_MS, PROTOCOL_LIMITS, SESSION_DEFAULTS, type DenoiseMode, type LatencyPreset,
  type ServerMessage, type SessionStartMessage,
} from '../protocol/messages.js';
import { DECIMAL_SYNTAX, DEFAULT_GATEWAY_CONFIG, GATEWAY_SETTINGS, gatewayConfigFromSources, type GatewayConfig } from '../server/config.js';
import type { SpeechEngine, SpeechEngineOptions } from '../server/speech-engine.js';
import { openLocalChannel, openRemoteChannel, type TranscriptionChannel } from './channel.js';
import { exitWhenSafe, handleInterrupts } from './interrupts.js';
import { startFieldsFor, streamWav } from './stream-wav.js';
import { transcriptPrinter } from './transcript-printer.js';
import { readWavHeader, type WavFile } from './wav.js';

/** Flags of the in-process pipeline, shared by `transcribe` and `eval` (see loadInProcessEngine). */
export const IN_PROCESS_HELP = `  --model DIR            model directory for the in-process pipeline (default: as \`serve\`)
  --precision P          int8 | fp32 | auto (in-process; default: auto)
  --beam-size N          CTC beam width (in-process; default: the server's, 16)
  --vad MODE             energy | off (in-process; off: no VAD, utterances are cut only every 15 s)
  --lm-weight W          token LM scale (in-process; default: the server's, 0.8; 0: no LM)
  --lm-token-bonus B     token LM bonus per token (in-process; default: the server's, 0.5)
  --decoder KIND         beam | greedy (in-process; default: the server's, beam; greedy: best path as the PyTorch
                         evaluation decodes, no LM)
  --encoder-workers N    encoder worker threads (in-process; default: the server's, ${DEFAULT_GATEWAY_CONFIG.encoderWorkers})
`;
export const IN_PROCESS_OPTIONS = {
  model: { type: 'string' }, precision: { type: 'string' }, 'beam-size': { type: 'string' }, decoder: { type: 'string' },
  vad: { type: 'string' }, 'lm-weight': { type: 'string' }, 'lm-token-bonus': { type: 'string' },
  'encoder-workers': { type: 'string' },
} as const;
export type InProcessFlags = { [K in keyof typeof IN_PROCESS_OPTIONS]?: string | undefined };

/** Flags that become session.start fields (in-process and with --url), shared by `transcribe` and `eval`. */
export const SESSION_HELP = `  --latency PRESET       low | balanced | accurate (default: the server's, balanced)
  --denoise MODE         off | spectral (default: off)
  --min-confidence C     reject utterances none of whose words reaches confidence C, in [0, 1] (default:
                         ${SESSION_DEFAULTS.minConfidence}; 0: keep every utterance)
  --background-rejection-db DB
                         leave out of partials and finals the unsure words DB below the session's reference level
                         (background talkers), in [0, ${PROTOCOL_LIMITS.maxBackgroundRejectionDb}] (default: 0, off)
`;
export const SESSION_OPTIONS = {
  latency: { type: 'string' }, denoise: { type: 'string' }, 'min-confidence': { type: 'string' },
  'background-rejection-db': { type: 'string' },
} as const;
export type SessionFlags = { [K in keyof typeof SESSION_OPTIONS]?: string | undefined };

export const TRANSCRIBE_HELP = `Usage: voxgate transcribe FILE.wav [options]

Streams a WAV file (16-bit PCM, 32-bit float, or 8-bit G.711 mu-law / A-law sent as it is, 8000-48000 Hz, mono
or stereo) in 50 ms frames and prints partial results and finals as they come.

Options:
  --url URL              server to use, e.g. ws://localhost:8080/v1/stream (default: in-process pipeline)
  --api-key KEY          API key for --url (Authorization: Bearer)
  --realtime             send at 1x speed (default: as fast as the server's flow control lets it)
  --numerals             print finals with numbers as digits (session.start numerals: formatted_text)
  --multichannel         transcribe each channel of a stereo file on its own (lines start with ch0 / ch1)
  --alternatives N       print up to N texts per final (its n-best list, with each text's share of the beam), N in
                         [1, ${PROTOCOL_LIMITS.maxAlternatives}] (session.start alternatives)
${SESSION_HELP}${IN_PROCESS_HELP}  --json                 print every server message as one JSON line instead
  -h, --help             this help

Ctrl-C (SIGINT) or SIGTERM once the session has started stops sending audio and ends the session as at the end of
the file: the audio sent so far gets its finals, which are printed, then the command exits 130 (SIGINT) or 143
(SIGTERM). A second signal exits at once with that code, without waiting for the finals. Before the session has
started (the model loading, the server not yet answering) a signal exits at once with that code: no audio was sent.

A file that cannot be read to its end (a read error, a file cut short while it is sent) ends the session as at the
end of the audio read: its finals are printed, then the error, and the command exits 1.

Exit codes: 0 done, 1 an error (also when the session ended with one), 2 a usage error, 130 / 143 interrupted,
141 the reader of its output went away (\`| head -1\`: it stops at once, as a tool killed by SIGPIPE).
`;

export interface TranscribeFlags extends InProcessFlags, SessionFlags {
  url?: string | undefined;
  'api-key'?: string | undefined;
  realtime?: boolean | undefined;
  json?: boolean | undefined;
  numerals?: boolean | undefined;
  multichannel?: boolean | undefined;
  alternatives?: string | undefined;
}

function usage(message: string): GatewayError {
  return new GatewayError('GW_ERR_BAD_CONFIG', message);
}

export type StartExtras = Pick<SessionStartMessage, 'latency' | 'denoise' | 'min_confidence' | 'background_rejection_db'>;

/** session.start extras from --latency / --denoise / --min-confidence (validated against the protocol's values). */
export function startExtras(flags: SessionFlags): StartExtras {
  const out: StartExtras = {};
  if (flags.latency !== undefined) {
    if (!Object.hasOwn(LATENCY_CHUNK_MS, flags.latency)) { // not `in`: "toString" is in every object
      throw usage(`--latency must be one of ${Object.keys(LATENCY_CHUNK_MS).join('|')}, got "${flags.latency}"`);
    }
    out.latency = flags.latency as LatencyPreset;
  }
  if (flags.denoise !== undefined) {
    if (!DENOISE_MODES.includes(flags.denoise as DenoiseMode)) {
      throw usage(`--denoise must be one of ${DENOISE_MODES.join('|')}, got "${flags.denoise}"`);
    }
    out.denoise = flags.denoise as DenoiseMode;
  }
  const confidence = numberFlag('min-confidence', flags['min-confidence'], 'number', 0, 1);
  if (confidence !== undefined) out.min_confidence = confidence;
  const db = numberFlag('background-rejection-db', flags['background-rejection-db'], 'number', 0,
    PROTOCOL_LIMITS.maxBackgroundRejectionDb);
  if (db !== undefined) out.background_rejection_db = db;
  return out;
}

/**
 * A flag that must be a number (`integer`: digits only) in [min, max], in plain decimals as `serve` takes them
 * (config.ts DECIMAL_SYNTAX): `Number()` alone took `0x10`, `1e1` and ` 5`. GW_ERR_BAD_CONFIG naming the flag and
 * quoting the value otherwise.
 */
export function numberFlag(name: string, value: string | undefined, kind: keyof typeof DECIMAL_SYNTAX, min: number,
  max: number): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (!DECIMAL_SYNTAX[kind].test(value) || !(v >= min && v <= max)) {
    throw usage(`--${name} must be ${kind === 'integer' ? 'an integer' : 'a number'} in [${min}, ${max}], `
      + `got ${JSON.stringify(value)}`);
  }
  return v;
}

/** Settings the in-process engine reads (server/speech-engine.ts): a listening or admission setting in the
 *  environment (PORT, VOXGATE_MAX_SESSIONS_PER_KEY) does not apply to a CLI run, so it must not fail one. */
const ENGINE_SETTINGS: ReadonlySet<string> = new Set<keyof SpeechEngineOptions>(['modelDir', 'precision', 'intraOpThreads', 'encoderWorkers',
  'maxBatch', 'batchWindowMs', 'beamSize', 'decoder', 'vad', 'lmWeight', 'lmTokenBonus']);

/** The in-process engine's configuration: the IN_PROCESS_OPTIONS flags over the engine's settings from `env`. */
export function inProcessConfig(flags: InProcessFlags, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const engineEnv = Object.fromEntries(GATEWAY_SETTINGS.filter((s) => ENGINE_SETTINGS.has(s.key))
    .map((s) => [s.env, env[s.env]]));
  return gatewayConfigFromSources(Object.fromEntries(
    Object.keys(IN_PROCESS_OPTIONS).map((k) => [k, flags[k as keyof InProcessFlags]])), engineEnv);
}

/** The in-process engine of `transcribe` / `eval`, loaded on demand, so `--url` runs never touch ONNX Runtime. */
export async function loadInProcessEngine(flags: InProcessFlags): Promise<SpeechEngine> {
  const { loadSpeechEngine } = await import('../server/speech-engine.js');
  return loadSpeechEngine(inProcessConfig(flags));
}

/** --alternatives N -> session.start alternatives (an integer in the protocol's range). */
export function alternativesFlag(value: string | undefined): { alternatives?: number } {
  const n = numberFlag('alternatives', value, 'integer', 1, PROTOCOL_LIMITS.maxAlternatives);
  return n === undefined ? {} : { alternatives: n };
}

/** Schemes the WebSocket client connects with (`ws` also takes http: / https: as ws: / wss:). */
const URL_SCHEMES: readonly string[] = ['ws:', 'wss:', 'http:', 'https:'];

/**
 * --url, checked before anything else runs: `ws` threw a bare "Invalid URL" (GW_ERR_INTERNAL, the value unquoted)
 * for `--url localhost:8080`, and only after the file was read.
 */
function urlFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let scheme = '';
  try {
    scheme = new URL(value).protocol;
  } catch { /* not a URL */ }
  if (!URL_SCHEMES.includes(scheme)) throw usage(`--url must be a ws:// or wss:// URL, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * --url, and the flags that are for one target only, checked before anything runs: the other target took them
 * without a word, not even checking their values, so a run "with --beam-size 4" against a server measured the
 * server's beam, and an --api-key given without --url was dropped.
 */
export function targetFlags(flags: InProcessFlags & { url?: string | undefined; 'api-key'?: string | undefined }): void {
  urlFlag(flags.url);
  if (flags.url === undefined) {
    if (flags['api-key'] !== undefined) throw usage('--api-key is for --url; the in-process pipeline takes no key');
    return;
  }
  const inProcess = Object.keys(IN_PROCESS_OPTIONS).find((k) => flags[k as keyof InProcessFlags] !== undefined);
  if (inProcess !== undefined) {
    throw usage(`--${inProcess} is for the in-process pipeline; with --url the server's settings apply`);
  }
}

export async function runTranscribe(file: string, flags: TranscribeFlags): Promise<number> {
  targetFlags(flags);
  const extras = startExtras(flags);
  const alternatives = alternativesFlag(flags.alternatives);
  // Until the session has started nothing was sent, so nothing is owed a final: a signal ends the process at once,
  // with its code (Node's default action ended it by the signal, without a word). That also drops what a clean stop
  // would wait on for nothing: a WAV read from a pipe that waits on its writer, the model load (seconds), a server
  // that has not answered the upgrade (the client waits 10 s); a socket being opened closes with the process.
  const opening = handleInterrupts((signal) => {
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}voxgate: ${signal}: stopped before the session started, `
      + 'no audio was sent\n');
    exitWhenSafe(opening.exitCode()!);
  });
  let closeEngine: (() => Promise<void>) | undefined;
  try {
    let wav: WavFile;
    let channel: TranscriptionChannel;
    try {
      wav = await readWavHeader(file);
      // the server's refusal named neither the flag nor the file, and in-process came only after the model load
      if (flags.multichannel === true && wav.channels !== 2) {
        throw usage(`--multichannel needs a stereo file, ${file} has ${wav.channels} channel`);
      }
      const start = { ...startFieldsFor(wav, extras), ...(flags.numerals === true ? { numerals: true } : {}),
        ...(flags.multichannel === true ? { multichannel: true } : {}), ...alternatives };
      if (flags.url !== undefined) {
        channel = await openRemoteChannel(flags.url, start, flags['api-key']);
      } else {
        // the engine's worker threads keep the process alive: it must close also when session.start is refused
        const engine = await loadInProcessEngine(flags);
        closeEngine = () => engine.close();
        channel = await openLocalChannel(engine, start);
      }
    } finally {
      opening.dispose(); // the handlers below take over in the same turn: no signal falls between them
    }
    const printer = transcriptPrinter(process.stdout, process.stderr, flags.json === true);
    printer.print(channel.started); // it arrives before streamWav listens: --json promises every server message
    // The notice starts a row of its own: the partial row is ended under the terminal's echo of ^C; with none open, a
    // newline on a terminal still steps past the echo. A second signal exits at once: the row is ended first, or the
    // shell's prompt came after the partial.
    const interrupt = handleInterrupts((signal) => process.stderr.write(
      `${!printer.endRow() && process.stderr.isTTY ? '\n' : ''}`
      + `voxgate: ${signal}: ending the session after the audio sent so far (again to exit at once)\n`),
    () => printer.endRow());
    // The server's fatal error, once the printer has shown it: the session's rejection is that same error, and in
    // text mode main.ts printing it again put it on stderr twice.
    let shownFatal: string | null = null;
    const onMessage = (m: ServerMessage): void => {
      printer.print(m);
      if (m.type === 'error' && m.fatal && flags.json !== true) shownFatal = m.code;
    };
    try {
      // a file that cannot be read to its end: what was sent of it is still the user's, so its finals are printed
      // (the session ends as at the end of the file) before the read error
      const result = await streamWav(channel, wav, { realtime: flags.realtime === true, onMessage,
        signal: interrupt.signal, endOnSourceError: true }).catch((e: unknown) => {
        if (shownFatal !== null && isGatewayError(e) && e.code === shownFatal) return null;
        throw e;
      });
      if (result === null) return 1;
      if (result.ended.reason !== 'client_end') {
        printer.endRow();
        process.stderr.write(`session ended with ${result.ended.error_code ?? 'an error'}\n`);
        return 1;
      }
      return interrupt.exitCode() ?? 0;
    } finally {
      // an error thrown here is printed next (main.ts), after the partial row; before, it was glued to the partial
      printer.endRow();
      interrupt.dispose();
    }
  } finally {
    await closeEngine?.();
  }
}
