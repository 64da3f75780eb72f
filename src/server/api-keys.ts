/**
 * API keys: a file with one key per line (`#` starts a comment line, blank lines are ignored), compared in constant
 * time. Keys are held only as SHA-256 digests, so every comparison is between equal-length 32-byte values
 * (`crypto.timingSafeEqual`) and the check visits every stored key whatever matches: neither the length nor the
 * position of a key leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GatewayError } from '../protocol/errors.js';

function digest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export class ApiKeys {
  private readonly digests: readonly Buffer[];

  constructor(keys: Iterable<string>) {
    this.digests = [...new Set(keys)].map(digest);
    if (this.digests.length === 0) throw new GatewayError('GW_ERR_BAD_CONFIG', 'API key set must not be empty');
  }

  /** Number of distinct keys. */
  get size(): number {
    return this.digests.length;
  }

  /** Constant-time membership test; `null`/`undefined`/empty is never a key. */
  has(candidate: string | null | undefined): boolean {
    const d = digest(candidate ?? '');
    let found = 0;
    for (const k of this.digests) found |= timingSafeEqual(k, d) ? 1 : 0;
    return found === 1 && candidate !== null && candidate !== undefined && candidate !== '';
  }
}

/**
 * Parses the key file's text. Keys are trimmed; a key must not contain whitespace. Errors quote the line number and
 * `source`, never the key itself. A file without any key is GW_ERR_BAD_CONFIG.
 */
export function parseApiKeys(text: string, source = 'api key file'): ApiKeys {
  const keys: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/\s/.test(line)) {
      throw new GatewayError('GW_ERR_BAD_CONFIG', `${source}: line ${i + 1} contains whitespace inside the key`);
    }
    keys.push(line);
  }
  if (keys.length === 0) throw new GatewayError('GW_ERR_BAD_CONFIG', `${source} contains no API key (only comments or blank lines)`);
  return new ApiKeys(keys);
}

/** Reads and parses an API-key file (GW_ERR_BAD_CONFIG when unreadable or empty). */
export async function loadApiKeys(filePath: string): Promise<ApiKeys> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (e) {
    throw new GatewayError('GW_ERR_BAD_CONFIG', `cannot read api key file "${filePath}"`, { cause: e });
  }
  return parseApiKeys(text, `api key file "${filePath}"`);
}

/**
 * The key a client presented: `Authorization: Bearer KEY` (scheme case-insensitive) wins over `?api_key=KEY`.
 * `headers` uses lower-case names (as in UpgradeInfo). Returns null when neither is present or the key is empty.
 */
export function extractKey(headers: Readonly<Record<string, string | undefined>>, query: URLSearchParams): string | null {
  const auth = headers['authorization'];
  if (auth !== undefined) {
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(auth);
    if (m !== null) return m[1];
  }
  const q = query.get('api_key');
  return q !== null && q !== '' ? q : null;
}
