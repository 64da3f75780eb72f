import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, GW_ERROR_CODES, GW_ERRORS } from '../../src/protocol/errors.js';

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
});
