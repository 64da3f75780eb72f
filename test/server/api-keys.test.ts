import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/protocol/errors.js';
import { ApiKeys, extractKey, loadApiKeys, parseApiKeys } from '../../src/server/api-keys.js';

describe('api keys', () => {
  it('parses one key per line, skipping comments and blank lines', () => {
    const keys = parseApiKeys('# prod keys\n\nalpha-123\r\n  beta_456  \n# old: gamma\nalpha-123\n');
    expect(keys.size).toBe(2);
    expect(keys.has('alpha-123')).toBe(true);
    expect(keys.has('beta_456')).toBe(true);
    expect(keys.has('gamma')).toBe(false);
    expect(keys.has('alpha-12')).toBe(false);
    expect(keys.has('alpha-1234')).toBe(false);
    expect(keys.has('')).toBe(false);
    expect(keys.has(null)).toBe(false);
  });

  it('rejects an empty file and keys with inner whitespace with GW_ERR_BAD_CONFIG, never quoting the key', () => {
    for (const text of ['', '\n\n', '# only a comment\n   \n']) {
      expect(() => parseApiKeys(text)).toThrow(GatewayError);
      try {
        parseApiKeys(text);
      } catch (e) {
        expect((e as GatewayError).code).toBe('GW_ERR_BAD_CONFIG');
      }
    }
    expect(() => parseApiKeys('ok\nsecret part\n')).toThrow(/line 2/);
    expect(() => parseApiKeys('ok\nsecret part\n')).not.toThrow(/secret/);
    expect(() => new ApiKeys([])).toThrow(GatewayError);
  });

  it('loads a file and reports an unreadable path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voxgate-keys-'));
    const file = join(dir, 'keys.txt');
    await writeFile(file, 'k1\nk2\n');
    expect((await loadApiKeys(file)).has('k2')).toBe(true);
    await expect(loadApiKeys(join(dir, 'missing.txt'))).rejects.toMatchObject({ code: 'GW_ERR_BAD_CONFIG' });
    await writeFile(file, '# none\n');
    await expect(loadApiKeys(file)).rejects.toThrow(/contains no API key/);
  });

  it('extracts the key from Authorization: Bearer or ?api_key=', () => {
    const q = (s: string) => new URLSearchParams(s);
    expect(extractKey({ authorization: 'Bearer abc' }, q(''))).toBe('abc');
    expect(extractKey({ authorization: 'bearer   abc ' }, q('api_key=zzz'))).toBe('abc');
    expect(extractKey({}, q('api_key=xyz&lang=en'))).toBe('xyz');
    expect(extractKey({ authorization: 'Basic dXNlcjpwdw==' }, q('api_key=xyz'))).toBe('xyz');
    expect(extractKey({ authorization: 'Bearer' }, q(''))).toBeNull();
    expect(extractKey({}, q('api_key='))).toBeNull();
    expect(extractKey({}, q(''))).toBeNull();
  });
});
