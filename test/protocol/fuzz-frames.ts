/**
 * Seeded generator of client text frames for protocol fuzzing: valid messages of every type, the same with one to
 * three random mutations (a field deleted, set to an odd value or a near-miss enum, an unknown key added, `__proto__`
 * as an own key), truncated JSON, deep nesting and junk. Used by the validator's property test
 * (test/protocol/validate-fuzz.test.ts) and the gateway fuzz test (test/integration/fuzz.test.ts).
 */

export type Rand = () => number;
export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
export const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

const ENCODINGS = ['pcm_s16le', 'pcm_f32le', 'mulaw', 'alaw', 'opus', 'PCM_S16LE', ''];
const RATES = [8000, 11025, 16000, 22050, 44100, 48000, 7999, 48001, 0, 16000.5];
const ODD_VALUES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, -1e308, '', 'x', 'ü'.repeat(300), [], {},
  [[[[[]]]]], { a: { b: { c: 1 } } }, '__proto__', 'constructor', 40, 80, 1280, 1281, 100, 0.15, 2];

/** A hotword list: mostly spellable phrases of 1-60 letters, some the model cannot spell, up to 100 entries. */
function hotwords(r: Rand): { phrase: string; boost?: number }[] {
  const n = pick(r, [0, 1, 1, 2, 5, 20, 100, 101]);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const word = (): string => Array.from({ length: int(r, 1, 12) }, () => letters[int(r, 0, 25)]).join('');
  return Array.from({ length: n }, (_, i) => {
    const phrase = r() < 0.85 ? Array.from({ length: int(r, 1, 5) }, word).join(' ').slice(0, 60)
      : pick(r, ['Zwölf', 'a1', '  ', "o'clock", 'AGENT', 'x'.repeat(101), '\u0000']);
    return r() < 0.2 ? { phrase: `${phrase}${i}` } : { phrase, boost: pick(r, [0, 1.5, 4, 20, 21, -1]) };
  });
}

export function validStart(r: Rand): Record<string, unknown> {
  const m: Record<string, unknown> = {
    type: 'session.start',
    audio: { encoding: pick(r, ENCODINGS.slice(0, 4)), sample_rate_hz: pick(r, RATES.slice(0, 6)), channels: int(r, 1, 2) },
  };
  // the fixture's own format in 40% of starts, so that real speech reaches the model (fuzzConnection)
  if (r() < 0.4) m.audio = { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 1 };
  if (r() < 0.5) m.interim_results = r() < 0.5;
  if (r() < 0.3) m.latency = pick(r, ['low', 'balanced', 'accurate']);
  else if (r() < 0.3) m.chunk_ms = 40 * int(r, 2, 32);
  if (r() < 0.3) m.endpointing = { silence_ms: int(r, 100, 2000), max_utterance_ms: int(r, 3000, 30_000) };
  if (r() < 0.3) m.hotwords = hotwords(r);
  if (r() < 0.3) m.denoise = pick(r, ['off', 'spectral']);
  if (r() < 0.2) m.min_confidence = r();
  if (r() < 0.2) m.numerals = r() < 0.5;
  if (r() < 0.3 && (m.audio as { channels: number }).channels === 2) m.multichannel = true;
  if (r() < 0.2) m.alternatives = int(r, 1, 10);
  return m;
}

function baseMessage(r: Rand): Record<string, unknown> {
  switch (int(r, 0, 5)) {
    case 0: return validStart(r);
    case 1: return { type: 'session.update', ...(r() < 0.7 ? { hotwords: hotwords(r) } : {}),
      ...(r() < 0.5 ? { endpointing: { silence_ms: int(r, 100, 900) } } : {}),
      ...(r() < 0.2 ? { numerals: r() < 0.5, alternatives: int(r, 1, 10), min_confidence: r() } : {}) };
    case 2: return { type: 'ping', id: String(int(r, 0, 1e6)) };
    case 3: return { type: 'session.finalize' };
    case 4: return { type: 'session.end' };
    default: return { type: pick(r, ['session.stop', 'PING', 'toString', '']) };
  }
}

/** Sets, deletes or adds a key somewhere in `m` (top level or one object deeper). */
function mutate(r: Rand, m: Record<string, unknown>): void {
  const nested = Object.values(m).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v));
  const target = nested.length > 0 && r() < 0.4 ? pick(r, nested) : m;
  const keys = Object.keys(target);
  const op = r();
  if (op < 0.2 && keys.length > 0) delete target[pick(r, keys)];
  else if (op < 0.35) set(target, pick(r, ['extra', 'model', 'language', 'sample_rate', '__proto__']), pick(r, ODD_VALUES));
  else if (keys.length > 0) set(target, pick(r, keys), r() < 0.5 ? pick(r, ODD_VALUES) : pick(r, [...ENCODINGS, ...RATES]));
}

/** An own, enumerable property even for `__proto__`; a copy of the value, so the shared pool is never mutated. */
function set(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value: structuredClone(value), enumerable: true, writable: true, configurable: true });
}

/** One text frame: a valid message, a mutated one, or broken JSON. */
export function textFrame(r: Rand): string {
  const kind = r();
  if (kind < 0.08) return pick(r, ['', '{', 'null', '[]', '42', '"session.start"', '{"type":"ping",}', '\u0000', '\ud800']);
  if (kind < 0.12) return `${'['.repeat(int(r, 1, 20_000))}${']'.repeat(int(r, 0, 3))}`;
  const m = baseMessage(r);
  if (kind > 0.5) for (let i = int(r, 1, 3); i > 0; i--) mutate(r, m);
  const text = JSON.stringify(m);
  return kind > 0.95 ? text.slice(0, int(r, 0, text.length - 1)) : text;
}
