import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, GW_ERROR_CODES, GW_ERRORS } from '../../src/protocol/errors.js';
import { normaliseSessionStart, sessionConfigToStart } from '../../src/protocol/session-config.js';
import { DEFAULT_SESSION_LIMITS } from '../../src/server/config.js';
import { sessionStartedMessage } from '../../src/server/session-start.js';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

/** Rows of the error table between the error-table markers. */
function errorRows(): Map<string, string[]> {
  const table = doc.split('<!-- error-table:start -->')[1]!.split('<!-- error-table:end -->')[0]!;
  const rows = new Map<string, string[]>();
  for (const line of table.split('\n')) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const m = /^`(GW_ERR_[A-Z_]+)`$/.exec(cells[0] ?? '');
    if (m) rows.set(m[1]!, cells);
  }
  return rows;
}

describe('docs/protocol.md', () => {
  it('lists exactly the registered error codes with their flags', () => {
    const rows = errorRows();
    expect([...rows.keys()].sort()).toEqual([...GW_ERROR_CODES].sort());
    for (const code of GW_ERROR_CODES) {
      const spec = GW_ERRORS[code];
      const [, fatal, close, http, retryable] = rows.get(code)!;
      expect({ code, fatal, close, http, retryable }).toEqual({
        code, fatal: spec.fatal ? 'yes' : 'no', close: String(spec.closeCode),
        http: spec.httpStatus === undefined ? '' : String(spec.httpStatus), retryable: spec.retryable ? 'yes' : 'no',
      });
    }
  });

  it('documents every close code', () => {
    for (const code of Object.values(CLOSE_CODES)) expect(doc).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });

  it('has a row for every session.start field and every session.started field the server sends', () => {
    const start = sessionConfigToStart(normaliseSessionStart({ type: 'session.start',
      audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 2 }, hotwords: [{ phrase: 'a' }],
      multichannel: true, tag: 't', language: 'en', model: 'm' }));
    const startFields = [...Object.keys(start), 'chunk_ms', ...Object.keys(start.audio).map((k) => `audio.${k}`),
      ...Object.keys(start.endpointing!).map((k) => `endpointing.${k}`), 'hotwords[].phrase', 'hotwords[].boost']
      .filter((k) => k !== 'audio' && k !== 'endpointing');
    const startTable = doc.split('### `session.start`')[1]!.split('###')[0]!;
    for (const f of startFields) expect(startTable, f).toContain(`| \`${f}\``);
    const started = sessionStartedMessage('s', normaliseSessionStart(start), { modelName: 'm', language: 'en',
      createPipeline: () => { throw new Error('unused'); } }, DEFAULT_SESSION_LIMITS);
    const startedTable = doc.split('### `session.started`')[1]!.split('###')[0]!;
    for (const f of Object.keys(started).filter((k) => k !== 'type')) expect(startedTable, f).toContain(`| \`${f}\``);
    // the example's session.started has exactly the fields the server sends
    const example = /^< (\{"type":"session\.started".*)$/m.exec(doc.split('## 11. Example')[1]!)![1]!;
    expect(Object.keys(JSON.parse(example) as object).sort()).toEqual(Object.keys(started).sort());
  });
});
