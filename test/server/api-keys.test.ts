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
    expect(() => parseApiKeys('ok\nsecretQ tailW\n')).toThrow(/line 2: text after the key is no option/);
    expect(() => parseApiKeys('ok\nsecretQ tailW\n')).not.toThrow(/secretQ|tailW/);
    expect(() => parseApiKeys('ok\nsecretQ taQ=ilW\n')).not.toThrow(/secretQ|taQ|ilW/);
    expect(() => new ApiKeys([])).toThrow(GatewayError);
  });

  it('maps each key to its account: its name (shared by keys of one name), else a digest prefix', () => {
    const keys = parseApiKeys('k-old name=acme max_sessions=3\nk-new  name=acme\tmax_sessions=3\nsolo\nfree name=open\n');
    expect(keys.size).toBe(4);
    expect(keys.lookup('k-old')).toEqual({ id: 'acme', maxSessions: 3 });
    expect(keys.lookup('k-new')).toEqual({ id: 'acme', maxSessions: 3 });
    expect(keys.lookup('free')).toEqual({ id: 'open', maxSessions: null });
    // sha256("solo") starts 5364f2f2...: the id shows 8 hex digits of the digest, never the key
    expect(keys.lookup('solo')).toEqual({ id: 'sha256:5364f2f2', maxSessions: null });
    expect(keys.lookup('k-ol')).toBeNull();
    expect(keys.lookup(undefined)).toBeNull();
    // a grant names the key itself, so a later key set can tell which account that key belongs to now
    const [oldKey, newKey] = [keys.grant('k-old')!, keys.grant('k-new')!];
    expect(oldKey.account).toBe(keys.lookup('k-old'));
    expect(oldKey.keyId).not.toBe(newKey.keyId);
    expect(keys.grant('k-ol')).toBeNull();
    const reloaded = parseApiKeys('k-new name=renamed\nsolo name=acme\n');
    expect(reloaded.accountOf(newKey.keyId)).toEqual({ id: 'renamed', maxSessions: null });
    expect(reloaded.accountOf(keys.grant('solo')!.keyId)).toEqual({ id: 'acme', maxSessions: null });
    expect(reloaded.accountOf(oldKey.keyId)).toBeNull();
  });

  it('rejects bad key options with GW_ERR_BAD_CONFIG, naming the line, quoting only numbers', () => {
    const cases: [string, RegExp][] = [
      ['k1 max_sessions=0', /line 1: max_sessions must be an integer in \[1, 100000\], got "0"/],
      ['k1 max_sessions=2.5', /got something else \(not quoted\)/],
      ['k1 max_sessions=', /got something else/],
      ['k1 max_sessions=100001', /got "100001"/],
      ['#\nk1 name=has space', /line 2: text after the key is no option/],
      ['k1 name=a/b', /name must be 1-64 of .*, got 3 characters \(not quoted\)/],
      ['k1 colour=red', /line 1: unknown key option/],
      ['name=acme k1', /line 1: the key comes first/],
      ['k1 name=a\nk1 name=b', /appears twice with different options/],
      ['k1 name=a max_sessions=2\nk2 name=a', /keys named "a" disagree on max_sessions \(2 and null\)/],
    ];
    for (const [text, message] of cases) {
      expect(() => parseApiKeys(text), text).toThrow(message);
      expect(() => parseApiKeys(text), text).not.toThrow(/k1|k2/);
    }
    expect(parseApiKeys('k1 name=a\nk1 name=a').size).toBe(1); // an identical repeat is harmless
  });

  it('on 3,000 random key files parses or throws GW_ERR_BAD_CONFIG, and never quotes a key', () => {
    const pieces = ['k3y', 'secretQ', ' ', '\t', '\n', '\r\n', '#', '=', 'name=', 'acme', 'max_sessions=', '7', '0',
      '-1', 'name=a b', 'max_sessions=99999999', 'x=y', '\u00e9', '\u0000'];
    let seed = 11;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let n = 0; n < 3000; n++) {
      const text = Array.from({ length: Math.floor(rand() * 12) }, () => pieces[Math.floor(rand() * pieces.length)]!).join('');
      try {
        const keys = parseApiKeys(text);
        expect(keys.size, JSON.stringify(text)).toBeGreaterThan(0);
      } catch (e) {
        expect(e, JSON.stringify(text)).toBeInstanceOf(GatewayError);
        expect((e as GatewayError).code).toBe('GW_ERR_BAD_CONFIG');
        expect((e as GatewayError).message, JSON.stringify(text)).not.toMatch(/k3y|secretQ/);
      }
    }
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
    // a Bearer header decides: one that is not exactly one token is no key, whatever the query holds
    for (const auth of ['Bearer', 'Bearer abc extra', 'Bearer abc, Bearer abc', 'Basic eDp5, bearer abc', ' BEARER\t']) {
      expect(extractKey({ authorization: auth }, q('api_key=xyz')), auth).toBeNull();
    }
    expect(extractKey({ authorization: 'Bearer a,b' }, q('api_key=xyz'))).toBe('a,b'); // a key may hold a comma
    expect(extractKey({ authorization: 'Bearerish abc' }, q('api_key=xyz'))).toBe('xyz');
  });
});
