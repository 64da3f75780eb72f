/**
 * pino JSON logger factory (https://getpino.io/#/docs/api). One root logger per process; every session logs through
 * a child that carries `session_id`, so one session's lines can be filtered out of the stream.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { GatewayError } from '../protocol/errors.js';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  /** Overrides LOG_LEVEL. */
  level?: LogLevel;
  /** Default stdout (pino's synchronous destination). Tests pass a stream to capture lines. */
  destination?: DestinationStream;
  /** Extra fields on every line. */
  base?: Record<string, unknown>;
}

function isLogLevel(v: string): v is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(v);
}

/**
 * Level resolution: `options.level`, else `LOG_LEVEL`, else `silent` under vitest (VITEST is set) and `info`
 * otherwise. A bad LOG_LEVEL throws GW_ERR_BAD_CONFIG.
 */
export function resolveLogLevel(options: LoggerOptions = {}, env: NodeJS.ProcessEnv = process.env): LogLevel {
  if (options.level !== undefined) return options.level;
  const fromEnv = env['LOG_LEVEL'];
  if (fromEnv === undefined || fromEnv === '') return env['VITEST'] !== undefined ? 'silent' : 'info';
  const level = fromEnv.toLowerCase();
  if (!isLogLevel(level)) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `LOG_LEVEL must be one of ${LOG_LEVELS.join('|')}, got "${fromEnv}"`);
  }
  return level;
}

/** The root logger: JSON lines with `level` as a label, ISO `time`, `service: "voxgate"`, `pid`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const opts = {
    level: resolveLogLevel(options),
    base: { service: 'voxgate', pid: process.pid, ...options.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination === undefined ? pino(opts) : pino(opts, options.destination);
}

/** A child logger for one session: every line carries `session_id`. */
export function sessionLogger(parent: Logger, sessionId: string, bindings: Record<string, unknown> = {}): Logger {
  return parent.child({ session_id: sessionId, ...bindings });
}
