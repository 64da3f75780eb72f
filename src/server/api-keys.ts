/**
 * API keys: a file with one key per line (`#` starts a comment line, blank lines are ignored), compared in constant
 * time. Keys are held only as SHA-256 digests, so every comparison is between equal-length 32-byte values
 * (`crypto.timingSafeEqual`) and the check visits every stored key whatever matches: neither the length nor the
 * position of a key leaks through timing.
 *
 * A key may be followed by options, `KEY name=acme max_sessions=20`:
 * - `name`: the account the key belongs to, as logs and metrics show it (the key itself never appears there).
 *   Keys without a name are their own account, shown as `sha256:` and the first 8 hex digits of the key's digest.
 * - `max_sessions`: the most sessions the account may hold open at once (the gateway answers more with 429
 *   GW_ERR_KEY_SESSION_LIMIT). Keys of one name share one count, so a tenant rotating its key keeps one quota.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GatewayError } from '../protocol/errors.js';

/** Whom a key admits: the account its sessions are counted under, and that account's session limit (null: none). */
export interface ApiKeyAccount {
  readonly id: string;
  readonly maxSessions: number | null;
}

/**
 * The key a client presented, as the key set knows it: `keyId` names the key itself across reloads (its SHA-256
 * digest in hex; never logged), so that a reload can move the key's open sessions to the account it now belongs to.
 */
export interface ApiKeyGrant {
  readonly keyId: string;
  readonly account: ApiKeyAccount;
}

/** One key of the file: the key and the options of its line. */
export interface ApiKeyEntry {
  key: string;
  name?: string;
  maxSessions?: number;
}

/** Most sessions `max_sessions` may grant (the gateway's own --max-sessions ceiling). */
export const MAX_SESSIONS_PER_ACCOUNT = 100_000;
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

function bad(message: string): GatewayError {
  return new GatewayError('GW_ERR_BAD_CONFIG', message);
}

export class ApiKeys {
  private readonly digests: readonly Buffer[];
  /** The grant of each key, in the order of `digests`. */
  private readonly grants: readonly ApiKeyGrant[];
  private readonly grantOfKeyId: ReadonlyMap<string, ApiKeyGrant>;

  /** Plain strings are keys without options. A key repeated with other options, or a name given two different
   * `max_sessions`, is GW_ERR_BAD_CONFIG (the message names the account, never the key). */
  constructor(entries: Iterable<string | ApiKeyEntry>) {
    const byKey = new Map<string, ApiKeyEntry>();
    for (const raw of entries) {
      const e = typeof raw === 'string' ? { key: raw } : raw;
      const seen = byKey.get(e.key);
      if (seen !== undefined && (seen.name !== e.name || seen.maxSessions !== e.maxSessions)) {
        throw bad(`an API key appears twice with different options (name ${JSON.stringify(e.name ?? null)})`);
      }
      byKey.set(e.key, e);
    }
    const limitOfName = new Map<string, number | null>();
    for (const e of byKey.values()) {
      if (e.name === undefined) continue;
      const limit = e.maxSessions ?? null;
      if (limitOfName.has(e.name) && limitOfName.get(e.name) !== limit) {
        throw bad(`keys named ${JSON.stringify(e.name)} disagree on max_sessions (${String(limitOfName.get(e.name))} `
          + `and ${String(limit)})`);
      }
      limitOfName.set(e.name, limit);
    }
    this.digests = [...byKey.keys()].map(digest);
    this.grants = [...byKey.values()].map((e, i) => ({
      keyId: this.digests[i].toString('hex'),
      account: { id: e.name ?? `sha256:${this.digests[i].toString('hex', 0, 4)}`, maxSessions: e.maxSessions ?? null },
    }));
    this.grantOfKeyId = new Map(this.grants.map((g) => [g.keyId, g]));
    if (this.digests.length === 0) throw bad('API key set must not be empty');
  }

  /** Number of distinct keys. */
  get size(): number {
    return this.digests.length;
  }

  /** Constant-time membership test; `null`/`undefined`/empty is never a key. */
  has(candidate: string | null | undefined): boolean {
    return this.lookup(candidate) !== null;
  }

  /** The account of `candidate`, or null when it is no key. Visits every key (constant time, see module doc). */
  lookup(candidate: string | null | undefined): ApiKeyAccount | null {
    return this.grant(candidate)?.account ?? null;
  }

  /** The key `candidate` and its account, or null when it is no key. Visits every key (constant time, module doc). */
  grant(candidate: string | null | undefined): ApiKeyGrant | null {
    const d = digest(candidate ?? '');
    let found = -1;
    for (let i = 0; i < this.digests.length; i++) {
      if (timingSafeEqual(this.digests[i], d)) found = i;
    }
    if (found < 0 || candidate === null || candidate === undefined || candidate === '') return null;
    return this.grants[found];
  }

  /** The account of the key a grant named (a grant of this or of an earlier key set), or null when it is gone. The
   * id comes from the gateway's own sessions, never from a client, so a plain lookup leaks nothing. */
  accountOf(keyId: string): ApiKeyAccount | null {
    return this.grantOfKeyId.get(keyId)?.account ?? null;
  }
}

/** One `name=value` option of a key line; `where` names the line for errors. An option repeated with another value
 * is refused: the last one silently winning would misread a line the operator edited by appending. */
function applyOption(entry: ApiKeyEntry, option: string, where: string): void {
  const eq = option.indexOf('=');
  const name = eq < 0 ? option : option.slice(0, eq);
  const value = eq < 0 ? '' : option.slice(eq + 1);
  // Bad values are quoted only when they are plain numbers: anything else may be a key pasted in the wrong place.
  if (name === 'name') {
    if (!NAME_PATTERN.test(value)) {
      throw bad(`${where}: name must be 1-64 of A-Z a-z 0-9 . _ -, got ${value.length} characters (not quoted)`);
    }
    if (entry.name !== undefined && entry.name !== value) throw bad(`${where}: name given twice, with two values`);
    entry.name = value;
  } else if (name === 'max_sessions') {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > MAX_SESSIONS_PER_ACCOUNT) {
      const got = /^-?\d{1,12}$/.test(value) ? JSON.stringify(value) : 'something else (not quoted)';
      throw bad(`${where}: max_sessions must be an integer in [1, ${MAX_SESSIONS_PER_ACCOUNT}], got ${got}`);
    }
    if (entry.maxSessions !== undefined && entry.maxSessions !== n) {
      throw bad(`${where}: max_sessions given twice, with two values`);
    }
    entry.maxSessions = n;
  } else if (eq < 0) {
    // not quoted: it may be the second half of a key that was pasted with a space inside
    throw bad(`${where}: text after the key is no option (a key must not contain whitespace; options: name=LABEL, `
      + 'max_sessions=N)');
  } else {
    throw bad(`${where}: unknown key option (options: name=LABEL, max_sessions=N; not quoted: it may be part of a key)`);
  }
}

/** Printable ASCII but `=`: a key travels in an HTTP header, whose other bytes carriers and clients decode unalike. */
const KEY_PATTERN = /^[!-<>-~]+$/;

/**
 * Parses the key file's text (module doc). Lines end in LF, CRLF or CR; a leading byte order mark is skipped; spaces
 * and tabs around a key and between options are ignored. A key is printable ASCII without `=` (so that a key and an
 * option cannot be mistaken for one another). Errors quote the line number and `source`, never the key itself. A file
 * without any key is GW_ERR_BAD_CONFIG.
 */
export function parseApiKeys(text: string, source = 'api key file'): ApiKeys {
  const entries: ApiKeyEntry[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/^[ \t]+|[ \t]+$/g, '');
    if (line === '' || line.startsWith('#')) continue;
    const [key, ...options] = line.split(/[ \t]+/);
    const where = `${source}: line ${i + 1}`;
    if (key.includes('=')) throw bad(`${where}: the key comes first and must not contain "="`);
    if (!KEY_PATTERN.test(key)) {
      throw bad(`${where}: a key may hold only printable ASCII characters (it travels in an HTTP header; not quoted)`);
    }
    const entry: ApiKeyEntry = { key };
    for (const option of options) applyOption(entry, option, where);
    entries.push(entry);
  }
  if (entries.length === 0) throw bad(`${source} contains no API key (only comments or blank lines)`);
  return new ApiKeys(entries);
}

/** Reads and parses an API-key file (GW_ERR_BAD_CONFIG when unreadable or empty). */
export async function loadApiKeys(filePath: string): Promise<ApiKeys> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (e) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `cannot read api key file "${filePath}": ${(e as Error).message}`,
      { cause: e });
  }
  return parseApiKeys(text, `api key file "${filePath}"`);
}

/**
 * The key a client presented: `Authorization: Bearer KEY` (scheme case-insensitive) wins over `?api_key=KEY`.
 * `headers` uses lower-case names (as in UpgradeInfo). Returns null when neither is present or the key is empty, and
 * when a Bearer header is not exactly one token: the header decides, so the query must not rescue a malformed one.
 * Both carriers join repeated headers with ", ", so a second header is never one token (a key holds no whitespace).
 */
export function extractKey(headers: Readonly<Record<string, string | undefined>>, query: URLSearchParams): string | null {
  const auth = headers['authorization'];
  if (auth !== undefined && /(^|,)\s*bearer(\s|,|$)/i.test(auth)) {
    return /^\s*bearer\s+(\S+)\s*$/i.exec(auth)?.[1] ?? null;
  }
  const q = query.get('api_key');
  return q !== null && q !== '' ? q : null;
}
