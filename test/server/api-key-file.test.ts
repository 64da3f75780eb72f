/**
 * The API key file's edges (api-keys.ts): characters a key may hold, line endings, and the error an unreadable file
 * gives at startup. Keys are printable ASCII because they travel in an HTTP header, whose other bytes each carrier and
 * client decode their own way: a key `clé-key` in `Authorization: Bearer` opened a session on uWebSockets.js (UTF-8)
 * and was refused on ws (node:http reads header bytes as Latin-1), and node's own client sends it as Latin-1, which
 * turns the answers around.
 */
import { mkdtemp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/protocol/errors.js';
import { loadApiKeys, parseApiKeys } from '../../src/server/api-keys.js';

function badConfig(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe('GW_ERR_BAD_CONFIG');
    return (e as Error).message;
  }
  throw new Error('expected GW_ERR_BAD_CONFIG');
}

describe('api key file', () => {
  it('refuses a key with characters outside printable ASCII, naming the line and never quoting the key', () => {
    for (const key of ['cl\u00e9-key', 'key\u0000zero', 'key\u007fdel', 'key\u200bzw', 'secret\u00a0half']) {
      const message = badConfig(() => parseApiKeys(`# keys\nfine-key\n${key} name=acme\n`));
      expect(message, JSON.stringify(key)).toMatch(/line 3: a key may hold only printable ASCII/);
      expect(message).not.toMatch(/cl|zero|del|zw|secret|half/);
    }
    // every printable ASCII character but `=` (which separates options) is fine, `#` inside a key too
    const all = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).filter((c) => c !== '=').join('');
    const keys = parseApiKeys(`${all}\nk#1\n`);
    expect(keys.has(all)).toBe(true);
    expect(keys.has('k#1')).toBe(true);
  });

  it('takes a byte order mark and any line ending: LF, CRLF and a lone CR', () => {
    const keys = parseApiKeys('\ufeffk1\r\nk2\rk3 name=acme\r# comment\rk4\n');
    expect(keys.size).toBe(4);
    for (const k of ['k1', 'k2', 'k3', 'k4']) expect(keys.has(k), k).toBe(true);
    expect(keys.lookup('k3')).toEqual({ id: 'acme', maxSessions: null });
    expect(badConfig(() => parseApiKeys('k1\rk2 colour=red\r'))).toMatch(/line 2: unknown key option/);
  });

  it('refuses an option given twice with two values (which one the operator meant is unknown), never quoting the key', () => {
    expect(badConfig(() => parseApiKeys('k1\nsecretQ name=acme name=other\n'))).toMatch(/line 2: name given twice/);
    expect(badConfig(() => parseApiKeys('secretQ max_sessions=5 name=a max_sessions=50'))).toMatch(/line 1: max_sessions given twice/);
    expect(badConfig(() => parseApiKeys('secretQ name=acme name=other'))).not.toMatch(/secretQ|acme|other/);
    // the same value twice says one thing
    expect(parseApiKeys('k1 max_sessions=5 max_sessions=05 name=a name=a').lookup('k1')).toEqual({ id: 'a', maxSessions: 5 });
  });

  it('says why a key file cannot be read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voxgate-keyfile-'));
    await expect(loadApiKeys(join(dir, 'missing.txt'))).rejects.toThrow(/cannot read api key file ".*missing\.txt": .*ENOENT/);
    await mkdir(join(dir, 'a-directory'));
    await expect(loadApiKeys(join(dir, 'a-directory'))).rejects.toThrow(/cannot read api key file ".*a-directory": .*EISDIR/);
  });
});
