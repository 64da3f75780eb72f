import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, resolveLogLevel, sessionLogger } from '../../src/server/logger.js';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('writes JSON lines; session children carry session_id', () => {
    const out = capture();
    const log = createLogger({ level: 'debug', destination: out.stream });
    sessionLogger(log, 's-1', { transport: 'uws' }).info({ chunkMs: 160 }, 'session started');
    log.debug('root');
    const [first, second] = out.lines();
    expect(first).toMatchObject({ level: 'info', session_id: 's-1', transport: 'uws', chunkMs: 160, msg: 'session started', service: 'voxgate' });
    expect(typeof first!['time']).toBe('string');
    expect(second).toMatchObject({ level: 'debug', msg: 'root' });
    expect(second!['session_id']).toBeUndefined();
  });

  it('takes the level from LOG_LEVEL, silent under vitest by default, and rejects bad levels', () => {
    expect(resolveLogLevel({}, { LOG_LEVEL: 'WARN' })).toBe('warn');
    expect(resolveLogLevel({}, {})).toBe('info');
    expect(resolveLogLevel({}, { VITEST: 'true' })).toBe('silent');
    expect(resolveLogLevel({ level: 'error' }, { LOG_LEVEL: 'debug' })).toBe('error');
    expect(() => resolveLogLevel({}, { LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL .* got "loud"/);
  });
});
