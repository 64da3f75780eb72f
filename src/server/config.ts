/**
 * Gateway configuration: {@link GatewayConfig}, its defaults, validation (GW_ERR_BAD_CONFIG quoting the bad value)
 * and the mapping from CLI flags / environment variables (flags win over env, env over defaults).
 *
 * | flag | env | default |
 * |---|---|---|
 * | --port | PORT | 8080 |
 * | --host | HOST | 0.0.0.0 |
 * | --transport uws\|ws | VOXGATE_TRANSPORT | uws (falls back to ws when the native binary is unavailable) |
 * | --model DIR | VOXGATE_MODEL | models/voxgate-conformer-ctc-en under the package root |
 * | --precision int8\|fp32\|auto | VOXGATE_PRECISION | auto |
 * | --max-sessions N | VOXGATE_MAX_SESSIONS | 200 |
 * | --api-keys FILE | VOXGATE_API_KEYS | none (no authentication) |
 * | --max-sessions-per-key N | VOXGATE_MAX_SESSIONS_PER_KEY | 0 (no limit; the key file's max_sessions still applies) |
 * | --tls-cert FILE, --tls-key FILE | VOXGATE_TLS_CERT, VOXGATE_TLS_KEY | none (plain ws://; both or neither) |
 * | --log-level LEVEL | LOG_LEVEL | info |
 * | --vad energy\|off | VOXGATE_VAD | energy (off: no VAD endpointing, see stream/vad.ts) |
 * | --beam-size N | VOXGATE_BEAM_SIZE | pipeline default (16) |
 * | --decoder beam\|greedy | VOXGATE_DECODER | beam (greedy: best path, no hotwords, no LM; for parity checks) |
 * | --start-timeout-ms, --idle-timeout-ms, --max-duration-ms, --drain-timeout-ms | VOXGATE_START_TIMEOUT_MS, ... | 10000, 30000, 3600000, 10000 |
 * | (every flag: GATEWAY_SETTINGS below; README.md "Configuration" documents them all, test/protocol/docs.test.ts checks it) | | |
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../protocol/errors.js';
import { PROTOCOL_LIMITS } from '../protocol/messages.js';
import { DEFAULT_CTC_DECODER_OPTIONS } from '../inference/ctc-decoder.js';
import { ENCODER_POOL_MAX } from '../inference/encoder-pool-options.js';
import { MAX_ENCODER_WORKERS } from '../inference/encoder-shards.js';
import { DECODER_KINDS, type DecoderKind } from '../stream/ctc-decode.js';
import { VAD_MODES, type VadMode } from '../stream/vad.js';
import type { TransportKind } from '../transports/transport.js';
import { MAX_SESSIONS_PER_ACCOUNT } from './api-keys.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';

export type Precision = 'int8' | 'fp32' | 'auto';
export const PRECISIONS: readonly Precision[] = ['int8', 'fp32', 'auto'];
export const TRANSPORT_KINDS: readonly TransportKind[] = ['uws', 'ws'];

/** Per-session limits (ms unless named otherwise); also announced in `session.started.limits`. */
export interface SessionLimitsConfig {
  /** No `session.start` this long after the upgrade -> GW_ERR_START_TIMEOUT, close 4006. */
  startTimeoutMs: number;
  /** No binary audio and no `ping` for this long -> GW_ERR_IDLE_TIMEOUT, close 4001. */
  idleTimeoutMs: number;
  /** Session length from `session.started` -> final(s), GW_ERR_MAX_DURATION, close 4002. */
  maxDurationMs: number;
  /** Unprocessed audio above which `flow.pause` is sent. */
  flowHighWaterMs: number;
  /** Unprocessed audio below which `flow.resume` is sent after a pause. */
  flowLowWaterMs: number;
  /** Unprocessed audio above which the session ends with GW_ERR_BACKLOG, close 4003. */
  backlogLimitMs: number;
  /** Largest inbound frame (text or binary), bytes. */
  maxFrameBytes: number;
}

export interface GatewayConfig extends SessionLimitsConfig {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  transport: TransportKind;
  /** Model directory (model.onnx / model.int8.onnx, tokens.txt). */
  modelDir: string;
  precision: Precision;
  /** Open sockets (started or not) at which upgrades get 503 GW_ERR_TOO_MANY_SESSIONS. */
  maxSessions: number;
  /** Load shedding: upgrades get 503 (and /readyz says overloaded) while the 90th percentile of the transcripts'
   * latency_ms over the last 5 s passes this, ms (server/latency-monitor.ts); 0: off. */
  overloadLatencyMs: number;
  /** File with one API key per line; null disables authentication. */
  apiKeysFile: string | null;
  /** Open sessions per API-key account (server/api-keys.ts) past which upgrades get 429 GW_ERR_KEY_SESSION_LIMIT;
   * a key's own `max_sessions` overrides it. 0: no default limit. Needs apiKeysFile. */
  maxSessionsPerKey: number;
  /** PEM certificate chain and private key for wss:// and https:// (both or neither; null: plain ws://). */
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  logLevel: LogLevel;
  /** Outbound soft limit: above it partials are dropped. Bytes. */
  outboundSoftLimitBytes: number;
  /** Outbound hard limit: GW_ERR_SLOW_CONSUMER, close 4004. Bytes. */
  outboundHardLimitBytes: number;
  /** Drain grace period: sockets still open after it are closed with 1001 regardless. */
  drainTimeoutMs: number;
  /** onnxruntime intra-op threads of the shared encoder (undefined: the pool's default). */
  intraOpThreads: number | undefined;
  /**
   * Encoder worker threads, each with its own ONNX Runtime session; streams are spread over them. Default: 2, or 1 on
   * a 1-core machine. Measured on the 2-core machine (bench/, README): 2 workers keep 100 sessions real time (p95
   * 54 ms) where 1 does not (p95 617 ms), and are no slower at 50 (p95 23 vs 36 ms). More were not measured.
   */
  encoderWorkers: number;
  /** Largest encoder batch across sessions (undefined: the pool's default). */
  maxBatch: number | undefined;
  /**
   * Wait this long after a worker's first ready chunk before calling the model, so more sessions' chunks share the
   * call. 0 (default): call at once. Measured on the 2-core machine (README, "Benchmarks"): 5 ms raises the mean
   * batch (100 sessions: 1.6-3.1 -> 2.3-5 chunks) and partial latency (p95 +10-40 ms); server CPU fell ~10% in one
   * interleaved A/B and did not move in another, so the default stays latency-first.
   */
  batchWindowMs: number;
  /** CTC prefix beam width (undefined: the pipeline's default). */
  beamSize: number | undefined;
  /** `beam` search (hotwords, LM) or `greedy` best path (sessions with hotwords get GW_ERR_BAD_HOTWORD; no LM). */
  decoder: DecoderKind;
  /** Speech detection: `energy` VAD endpointing, or `off` (every frame is speech; utterances end on finalize). */
  vad: VadMode;
  /** Scale of the model directory's token LM (token-lm.bin) in the beam search; 0 turns the LM off. */
  lmWeight: number;
  /** Nats per emitted token that offset the LM's per-token cost (used only with the LM). */
  lmTokenBonus: number;
}

/** The package root (the directory holding voxgate's package.json), found from this file in src/ or dist/src/. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'voxgate') return dir;
      } catch { /* not ours: keep walking up */ }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

/** models/voxgate-conformer-ctc-en under the package root (independent of the working directory). */
export function defaultModelDir(): string {
  return path.join(packageRoot(), 'models', 'voxgate-conformer-ctc-en');
}

/** The longest `maxDurationMs` a server takes: 7 days (a timer cannot run past 2^31 - 1 ms, about 24.8 days). */
export const MAX_SESSION_DURATION_MS = 7 * 86_400_000;

export const DEFAULT_SESSION_LIMITS: Readonly<SessionLimitsConfig> = {
  startTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  maxDurationMs: 3_600_000,
  flowHighWaterMs: 2000,
  flowLowWaterMs: 500,
  backlogLimitMs: 10_000,
  maxFrameBytes: PROTOCOL_LIMITS.maxFrameBytes,
};

export const DEFAULT_GATEWAY_CONFIG: Readonly<Omit<GatewayConfig, 'modelDir'>> = {
  ...DEFAULT_SESSION_LIMITS,
  host: '0.0.0.0',
  port: 8080,
  transport: 'uws',
  precision: 'auto',
  maxSessions: 200,
  overloadLatencyMs: 500,
  apiKeysFile: null,
  maxSessionsPerKey: 0,
  tlsCertFile: null,
  tlsKeyFile: null,
  logLevel: 'info',
  outboundSoftLimitBytes: 256 * 1024,
  outboundHardLimitBytes: 4 * 1024 * 1024,
  drainTimeoutMs: 10_000,
  intraOpThreads: undefined,
  encoderWorkers: Math.min(2, availableParallelism()),
  maxBatch: undefined,
  batchWindowMs: 0,
  beamSize: undefined,
  decoder: 'beam',
  vad: 'energy',
  lmWeight: DEFAULT_CTC_DECODER_OPTIONS.lmWeight,
  lmTokenBonus: DEFAULT_CTC_DECODER_OPTIONS.lmTokenBonus,
};

function bad(message: string): GatewayError {
  return new GatewayError('GW_ERR_BAD_CONFIG', message);
}

function checkInt(name: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw bad(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
}

function checkOneOf<T>(name: string, v: unknown, values: readonly T[]): void {
  if (!values.includes(v as T)) throw bad(`${name} must be one of ${values.join('|')}, got ${JSON.stringify(v)}`);
}

/** Throws GW_ERR_BAD_CONFIG naming the first bad field and quoting its value; returns `c` unchanged otherwise. */
export function validateGatewayConfig(c: GatewayConfig): GatewayConfig {
  if (typeof c.host !== 'string' || c.host === '') throw bad(`host must be a non-empty string, got ${JSON.stringify(c.host)}`);
  checkInt('port', c.port, 0, 65535);
  checkOneOf('transport', c.transport, TRANSPORT_KINDS);
  if (typeof c.modelDir !== 'string' || c.modelDir === '') throw bad(`modelDir must be a path, got ${JSON.stringify(c.modelDir)}`);
  checkOneOf('precision', c.precision, PRECISIONS);
  checkInt('maxSessions', c.maxSessions, 1, 100_000);
  checkInt('overloadLatencyMs', c.overloadLatencyMs, 0, 60_000);
  for (const [name, v] of [['apiKeysFile', c.apiKeysFile], ['tlsCertFile', c.tlsCertFile], ['tlsKeyFile', c.tlsKeyFile]] as const) {
    if (v !== null && (typeof v !== 'string' || v === '')) throw bad(`${name} must be a path or null, got ${JSON.stringify(v)}`);
  }
  checkInt('maxSessionsPerKey', c.maxSessionsPerKey, 0, MAX_SESSIONS_PER_ACCOUNT);
  if (c.maxSessionsPerKey > 0 && c.apiKeysFile === null) {
    throw bad(`maxSessionsPerKey needs apiKeysFile (sessions are counted per key), got ${c.maxSessionsPerKey} without keys`);
  }
  if ((c.tlsCertFile === null) !== (c.tlsKeyFile === null)) {
    throw bad(`tlsCertFile and tlsKeyFile go together, got ${JSON.stringify(c.tlsCertFile)} and ${JSON.stringify(c.tlsKeyFile)}`);
  }
  checkOneOf('logLevel', c.logLevel, LOG_LEVELS);
  checkInt('startTimeoutMs', c.startTimeoutMs, 10, 86_400_000);
  checkInt('idleTimeoutMs', c.idleTimeoutMs, 10, 86_400_000);
  checkInt('maxDurationMs', c.maxDurationMs, 100, MAX_SESSION_DURATION_MS);
  checkInt('flowLowWaterMs', c.flowLowWaterMs, 0, 600_000);
  checkInt('flowHighWaterMs', c.flowHighWaterMs, 1, 600_000);
  checkInt('backlogLimitMs', c.backlogLimitMs, 1, 600_000);
  if (c.flowLowWaterMs >= c.flowHighWaterMs) {
    throw bad(`flowLowWaterMs must be below flowHighWaterMs (${c.flowHighWaterMs}), got ${c.flowLowWaterMs}`);
  }
  if (c.backlogLimitMs <= c.flowHighWaterMs) {
    throw bad(`backlogLimitMs must exceed flowHighWaterMs (${c.flowHighWaterMs}), got ${c.backlogLimitMs}`);
  }
  checkInt('maxFrameBytes', c.maxFrameBytes, 1024, 64 * 1024 * 1024);
  checkInt('outboundSoftLimitBytes', c.outboundSoftLimitBytes, 1024, 1024 * 1024 * 1024);
  checkInt('outboundHardLimitBytes', c.outboundHardLimitBytes, 1024, 1024 * 1024 * 1024);
  if (c.outboundHardLimitBytes <= c.outboundSoftLimitBytes) {
    throw bad(`outboundHardLimitBytes must exceed outboundSoftLimitBytes (${c.outboundSoftLimitBytes}), `
      + `got ${c.outboundHardLimitBytes}`);
  }
  checkInt('drainTimeoutMs', c.drainTimeoutMs, 0, 600_000);
  // The encoder pool's own ranges: the pool checks them only when the model loads, after the port is open, so a
  // wider range here let the server start listening and then die.
  if (c.intraOpThreads !== undefined) checkInt('intraOpThreads', c.intraOpThreads, 1, ENCODER_POOL_MAX.intraOpThreads);
  checkInt('encoderWorkers', c.encoderWorkers, 1, MAX_ENCODER_WORKERS);
  if (c.maxBatch !== undefined) checkInt('maxBatch', c.maxBatch, 1, ENCODER_POOL_MAX.maxBatch);
  checkInt('batchWindowMs', c.batchWindowMs, 0, ENCODER_POOL_MAX.batchWindowMs);
  if (c.beamSize !== undefined) checkInt('beamSize', c.beamSize, 1, 256);
  checkOneOf('vad', c.vad, VAD_MODES);
  checkOneOf('decoder', c.decoder, DECODER_KINDS);
  if (typeof c.lmWeight !== 'number' || !(c.lmWeight >= 0 && c.lmWeight <= 10)) {
    throw bad(`lmWeight must be a number in [0, 10], got ${String(c.lmWeight)}`);
  }
  if (typeof c.lmTokenBonus !== 'number' || !(c.lmTokenBonus >= -10 && c.lmTokenBonus <= 10)) {
    throw bad(`lmTokenBonus must be a number in [-10, 10], got ${String(c.lmTokenBonus)}`);
  }
  return c;
}

/** Defaults, overridden by `overrides`, validated. */
export function resolveGatewayConfig(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  const merged: GatewayConfig = { ...DEFAULT_GATEWAY_CONFIG, modelDir: defaultModelDir(), ...dropUndefined(overrides) };
  return validateGatewayConfig(merged);
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** One configurable setting as the CLI and the environment spell it. */
interface Setting {
  key: keyof GatewayConfig;
  flag: string;
  env: string;
  kind: 'int' | 'number' | 'string' | 'path';
  help: string;
}

/** Every `serve` flag, its env variable and its help line (also printed by `voxgate serve --help`). */
export const GATEWAY_SETTINGS: readonly Setting[] = [
  { key: 'port', flag: 'port', env: 'PORT', kind: 'int', help: 'TCP port (0: any free port)' },
  { key: 'host', flag: 'host', env: 'HOST', kind: 'string', help: 'address to bind' },
  { key: 'transport', flag: 'transport', env: 'VOXGATE_TRANSPORT', kind: 'string', help: 'uws | ws' },
  { key: 'modelDir', flag: 'model', env: 'VOXGATE_MODEL', kind: 'path', help: 'model directory' },
  { key: 'precision', flag: 'precision', env: 'VOXGATE_PRECISION', kind: 'string', help: 'int8 | fp32 | auto' },
  { key: 'maxSessions', flag: 'max-sessions', env: 'VOXGATE_MAX_SESSIONS', kind: 'int', help: 'open sockets (started or not)' },
  { key: 'overloadLatencyMs', flag: 'overload-latency-ms', env: 'VOXGATE_OVERLOAD_LATENCY_MS', kind: 'int',
    help: 'refuse new sessions while transcripts lag this much (p90, 5 s; 0: off)' },
  { key: 'apiKeysFile', flag: 'api-keys', env: 'VOXGATE_API_KEYS', kind: 'path', help: 'file with one API key per line (after a key: name=ACCOUNT max_sessions=N)' },
  { key: 'maxSessionsPerKey', flag: 'max-sessions-per-key', env: 'VOXGATE_MAX_SESSIONS_PER_KEY', kind: 'int',
    help: 'open sessions per API-key account (0: no limit)' },
  { key: 'tlsCertFile', flag: 'tls-cert', env: 'VOXGATE_TLS_CERT', kind: 'path', help: 'PEM certificate chain (wss://)' },
  { key: 'tlsKeyFile', flag: 'tls-key', env: 'VOXGATE_TLS_KEY', kind: 'path', help: 'PEM private key (wss://)' },
  { key: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', kind: 'string', help: LOG_LEVELS.join(' | ') },
  { key: 'startTimeoutMs', flag: 'start-timeout-ms', env: 'VOXGATE_START_TIMEOUT_MS', kind: 'int', help: 'session.start deadline' },
  { key: 'idleTimeoutMs', flag: 'idle-timeout-ms', env: 'VOXGATE_IDLE_TIMEOUT_MS', kind: 'int', help: 'idle timeout' },
  { key: 'maxDurationMs', flag: 'max-duration-ms', env: 'VOXGATE_MAX_DURATION_MS', kind: 'int', help: 'max session length' },
  { key: 'flowHighWaterMs', flag: 'flow-high-water-ms', env: 'VOXGATE_FLOW_HIGH_WATER_MS', kind: 'int', help: 'flow.pause above' },
  { key: 'flowLowWaterMs', flag: 'flow-low-water-ms', env: 'VOXGATE_FLOW_LOW_WATER_MS', kind: 'int', help: 'flow.resume below' },
  { key: 'backlogLimitMs', flag: 'backlog-limit-ms', env: 'VOXGATE_BACKLOG_LIMIT_MS', kind: 'int', help: 'GW_ERR_BACKLOG above' },
  { key: 'outboundSoftLimitBytes', flag: 'outbound-soft-limit-bytes', env: 'VOXGATE_OUTBOUND_SOFT_LIMIT_BYTES', kind: 'int', help: 'drop partials above' },
  { key: 'outboundHardLimitBytes', flag: 'outbound-hard-limit-bytes', env: 'VOXGATE_OUTBOUND_HARD_LIMIT_BYTES', kind: 'int', help: 'GW_ERR_SLOW_CONSUMER above' },
  { key: 'drainTimeoutMs', flag: 'drain-timeout-ms', env: 'VOXGATE_DRAIN_TIMEOUT_MS', kind: 'int', help: 'drain grace period' },
  { key: 'intraOpThreads', flag: 'threads', env: 'VOXGATE_THREADS', kind: 'int', help: 'encoder intra-op threads' },
  { key: 'encoderWorkers', flag: 'encoder-workers', env: 'VOXGATE_ENCODER_WORKERS', kind: 'int', help: 'encoder worker threads' },
  { key: 'maxBatch', flag: 'max-batch', env: 'VOXGATE_MAX_BATCH', kind: 'int', help: 'encoder batch size limit' },
  { key: 'batchWindowMs', flag: 'batch-window-ms', env: 'VOXGATE_BATCH_WINDOW_MS', kind: 'int', help: 'wait to fill an encoder batch (0-50)' },
  { key: 'beamSize', flag: 'beam-size', env: 'VOXGATE_BEAM_SIZE', kind: 'int', help: 'CTC beam width' },
  { key: 'decoder', flag: 'decoder', env: 'VOXGATE_DECODER', kind: 'string', help: 'beam | greedy (no hotwords, no LM)' },
  { key: 'vad', flag: 'vad', env: 'VOXGATE_VAD', kind: 'string', help: 'energy | off (no VAD endpointing)' },
  { key: 'lmWeight', flag: 'lm-weight', env: 'VOXGATE_LM_WEIGHT', kind: 'number', help: 'token LM scale (0: off)' },
  { key: 'lmTokenBonus', flag: 'lm-token-bonus', env: 'VOXGATE_LM_TOKEN_BONUS', kind: 'number', help: 'token LM bonus per token' },
];

/**
 * How every number on voxgate's command lines and in its environment is spelt: plain decimals. `Number()` alone takes
 * `0x10`, `1e1` and `Infinity`, which nobody means for a port or a threshold. Surrounding spaces are refused too, as
 * a string setting's would be (`--transport "ws "`): one rule for every value, on every command.
 */
export const DECIMAL_SYNTAX = { integer: /^-?\d+$/, number: /^-?(\d+\.?\d*|\.\d+)$/ } as const;

function parseSetting(s: Setting, raw: string, source: string): unknown {
  if (s.kind === 'int') {
    if (!DECIMAL_SYNTAX.integer.test(raw)) throw bad(`${source} must be an integer, got ${JSON.stringify(raw)}`);
    // past 2^53 Number() is another number than the one typed: the text goes on, so the range check quotes it as given
    return Number.isSafeInteger(Number(raw)) ? Number(raw) : raw;
  }
  if (s.kind === 'number') {
    if (!DECIMAL_SYNTAX.number.test(raw)) throw bad(`${source} must be a number, got ${JSON.stringify(raw)}`);
    return Number(raw);
  }
  // path.resolve('') is the working directory: an empty `--model "$DIR"` must not name a directory nobody gave
  if (s.kind === 'path' && raw.trim() === '') throw bad(`${source} must be a path, got ${JSON.stringify(raw)}`);
  if (s.kind === 'path') return path.resolve(raw);
  return raw;
}

/**
 * Builds the config from parsed CLI flag values (`{port: '9000', model: 'dir'}`, flag names without `--`) and the
 * environment. Flags win over env, env over defaults; everything is validated.
 */
export function gatewayConfigFromSources(
  flags: Readonly<Record<string, string | undefined>>,
  env: NodeJS.ProcessEnv = process.env,
): GatewayConfig {
  const overrides: Record<string, unknown> = {};
  /** Where each given value came from (`--port`, `PORT`), to name it in an error. */
  const sources = new Map<string, string>();
  for (const s of GATEWAY_SETTINGS) {
    const fromFlag = flags[s.flag];
    const fromEnv = env[s.env];
    const [raw, source] = fromFlag !== undefined ? [fromFlag, `--${s.flag}`]
      : fromEnv !== undefined && fromEnv !== '' ? [fromEnv, s.env] : [undefined, ''];
    if (raw === undefined) continue;
    overrides[s.key] = parseSetting(s, raw, source);
    sources.set(s.key, source);
  }
  // levels are case-insensitive; a bad one is quoted as given
  const level = typeof overrides.logLevel === 'string' ? overrides.logLevel.toLowerCase() : undefined;
  if (LOG_LEVELS.includes(level as LogLevel)) overrides.logLevel = level;
  try {
    return resolveGatewayConfig(overrides as Partial<GatewayConfig>);
  } catch (e) {
    // validateGatewayConfig names the config field first ("maxSessions must be ..."), and a rule between two fields
    // the other one after it: say which flag or variable gave the first named value, which is what the operator typed
    const named = e instanceof GatewayError ? (e.message.match(/\b\w+\b/g) ?? []).find((w) => sources.has(w)) : undefined;
    const source = named === undefined ? undefined : sources.get(named);
    if (source === undefined) throw e;
    throw new GatewayError('GW_ERR_BAD_CONFIG', `${source}: ${(e as Error).message}`, { cause: e });
  }
}
