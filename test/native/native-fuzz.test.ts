/**
 * Seeded fuzzing of the raw native binding (no TypeScript wrapper in between): every entry point of
 * native/binding/addon.cc gets random arguments, wrong typed-array kinds, lying sizes, out-of-range ids and
 * non-finite numbers. Native code that read out of range would crash the test worker instead of failing an
 * expectation, so the properties are: every call returns or throws an Error whose `code` is GW_ERR_DECODER (or a
 * TypeError from the binding's argument checks), and a decoder that rejected a call decodes a valid chunk exactly
 * as a fresh one does (a rejected call leaves the state unchanged).
 */
import { describe, expect, it } from 'vitest';
import { rng } from '../../bench/bench-random.js';
import { loadNativeAddon, type NativeCtcDecoder } from '../../src/inference/native-addon.js';
import { int, pick, type Rand } from '../protocol/fuzz-frames.js';
import { peakyLogProbs, shippedTokenLm, V } from './ctc-fixtures.js';

const CALLS = 4000;
const ODD_NUMBERS = [0, -1, 1, 2, 29, 30, 1.5, Number.NaN, Infinity, -Infinity, 2 ** 31, -(2 ** 31), 2 ** 53, 1e9];

type Kind = 'f32' | 'f64' | 'i32';

/**
 * A value for an argument that wants a typed array of `kind` and `len` elements: mostly the right kind with a length
 * near `len` and contents that are sometimes out of range, otherwise another kind, a plain array or no array at all.
 */
function oddArray(r: Rand, len: number, kind: Kind): unknown {
  const n = Math.max(0, pick(r, [len, len, len, 0, 1, len - 1, len + 1, len * 2, int(r, 0, 200)]));
  const which = r() < 0.75 ? kind : pick(r, ['f32', 'f64', 'i32', 'u8', 'plain', 'none', 'view'] as const);
  switch (which) {
    case 'f32': return new Float32Array(n).map(() => (r() < 0.05 ? pick(r, ODD_NUMBERS) : Math.log(r() + 1e-9)));
    case 'f64': return new Float64Array(n).map(() => (r() < 0.2 ? pick(r, ODD_NUMBERS) : 1 + 4 * r()));
    case 'i32': return new Int32Array(n).map(() => (r() < 0.1 ? pick(r, [-1, 2 ** 31 - 1, -(2 ** 31), 1e6]) : int(r, 0, 31)));
    case 'u8': return new Uint8Array(n);
    case 'plain': return Array.from({ length: n }, () => r());
    case 'view': return new Float32Array(new ArrayBuffer(4 * (n + 2)), 4, n); // an offset view
    default: return pick(r, [undefined, null, 'abc', 7, {}, new ArrayBuffer(16)]);
  }
}

function expectCodedError(e: unknown, what: string): void {
  expect(e, what).toBeInstanceOf(Error);
  if (e instanceof TypeError) return;
  expect((e as { code?: string }).code, `${what}: ${(e as Error).message}`).toBe('GW_ERR_DECODER');
}

/** One element of one of `arrays` set to an odd value; returns the undo. */
function corruptOne(r: Rand, arrays: readonly (Int32Array | Float32Array)[]): () => void {
  const a = pick(r, arrays);
  const i = int(r, 0, a.length - 1);
  const old = a[i]!;
  a[i] = a instanceof Int32Array ? pick(r, [-1, a.length, 2 ** 31 - 1, old + 1, 0]) : pick(r, ODD_NUMBERS);
  return () => { a[i] = old; };
}

describe('native binding under random arguments', () => {
  it('returns or throws a coded error, and a rejected call changes nothing', () => {
    const addon = loadNativeAddon();
    const shipped = shippedTokenLm();
    const lm = shipped.native();
    const lmTables = [shipped.arcStart, shipped.backoffState, shipped.backoffLogWeight, shipped.finalLogProb,
      shipped.arcToken, shipped.arcNext, shipped.arcLogProb] as const;
    const r = rng(99);
    const valid = peakyLogProbs(12, rng(3), 0.7, V).logProbs;
    const make = (): NativeCtcDecoder => new addon.CtcDecoder({ vocabSize: V, blankId: 0, beamSize: 8, tokenThreshold: 10,
      lm, lmWeight: 0.5, lmTokenBonus: 0.5 });
    const decoder = make();
    const twin = make(); // gets only the calls that succeeded on `decoder`
    const scalars = (): Float64Array => new Float64Array(4);
    const counts = { accepted: [0, 0, 0, 0, 0], rejected: [0, 0, 0, 0, 0] };
    for (let i = 0; i < CALLS; i++) {
      const op = int(r, 0, 4);
      const what = `call ${i} op ${op}`;
      let apply: (d: NativeCtcDecoder) => unknown;
      let mutates = false;
      let undo = (): void => undefined;
      if (op === 0) { // decodeChunk: a real chunk, sometimes with lying sizes, odd values or odd types
        const frames = r() < 0.6 ? int(r, 1, 12) : pick(r, ODD_NUMBERS);
        const chunk = Number.isInteger(frames) && frames >= 1 && frames <= 12 ? valid.slice(0, frames * V) : valid.slice(0, V);
        const data = r() < 0.6 ? chunk : oddArray(r, chunk.length, 'f32');
        if (r() < 0.2 && chunk.length > 0) chunk[int(r, 0, chunk.length - 1)] = pick(r, ODD_NUMBERS);
        const vocab = r() < 0.8 ? V : pick(r, ODD_NUMBERS);
        const sc = r() < 0.9 ? scalars() : oddArray(r, 4, 'f64');
        apply = (d) => d.decodeChunk(data as Float32Array, frames, vocab, sc as Float64Array);
        mutates = true;
      } else if (op === 1) { // setHotwords: two valid phrases, sometimes one field made wrong
        let ids: unknown = Int32Array.of(int(r, 1, V - 1), int(r, 1, V - 1), int(r, 1, V - 1), int(r, 1, V - 1));
        let lengths: unknown = r() < 0.5 ? Int32Array.of(2, 2) : Int32Array.of(1, 3);
        let boosts: unknown = Float64Array.of(1 + 3 * r(), 1 + 3 * r());
        const k = r() < 0.5 ? -1 : int(r, 0, 2);
        if (k === 0) ids = oddArray(r, 4, 'i32');
        if (k === 1) lengths = oddArray(r, 2, 'i32');
        if (k === 2) boosts = oddArray(r, 2, 'f64');
        apply = (d) => d.setHotwords(ids as Int32Array, lengths as Int32Array, boosts as Float64Array);
        mutates = true;
      } else if (op === 2) { // the read-only calls: current, and the n-best list (its scores need beamSize slots)
        if (r() < 0.5) {
          const sc = r() < 0.7 ? scalars() : oddArray(r, 4, 'f64');
          apply = (d) => d.current(sc as Float64Array);
        } else {
          const sc = r() < 0.7 ? new Float64Array(8) : pick(r, [new Float64Array(3), oddArray(r, 8, 'f64')]);
          apply = (d) => d.finalAlternatives(sc as Float64Array);
        }
      } else if (op === 3) {
        const o = { vocabSize: r() < 0.5 ? V : pick(r, ODD_NUMBERS), blankId: pick(r, [0, 0, -1, V, 1.5]),
          beamSize: pick(r, [1, 8, 0, 1e6, Number.NaN]), tokenThreshold: pick(r, [10, ...ODD_NUMBERS]),
          ...(r() < 0.3 ? { lm: pick(r, [lm, {}, null, 3]), lmWeight: pick(r, [0.5, ...ODD_NUMBERS]) } : {}) };
        apply = () => new addon.CtcDecoder(o as never);
      } else { // the shipped LM's tables with one to three elements corrupted (restored after the call)
        const undos = Array.from({ length: int(r, 1, 3) }, () => corruptOne(r, lmTables));
        undo = () => undos.reverse().forEach((u) => u());
        const header = { vocabSize: r() < 0.8 ? shipped.vocabSize : pick(r, ODD_NUMBERS), blankId: 0,
          startState: r() < 0.8 ? shipped.startState : pick(r, [-1, 1e9, shipped.numStates]) };
        const [arcStart, backoffState, backoffLogWeight, finalLogProb, arcToken, arcNext, arcLogProb] = lmTables;
        apply = () => new addon.TokenLm(header, arcStart, backoffState, backoffLogWeight, finalLogProb, arcToken, arcNext,
          arcLogProb);
      }
      let ok = true;
      try {
        apply(decoder);
      } catch (e) {
        expectCodedError(e, what);
        ok = false;
      } finally {
        undo();
      }
      (ok ? counts.accepted : counts.rejected)[op]!++;
      if (ok && mutates) apply(twin); // replay what changed `decoder`'s state
    }
    // every entry point both accepted and rejected calls (the generator reaches past the type checks)
    for (let op = 0; op < 5; op++) {
      expect(counts.accepted[op], `op ${op} accepted`).toBeGreaterThan(20);
      expect(counts.rejected[op], `op ${op} rejected`).toBeGreaterThan(20);
    }
    // same history of accepted calls -> same state: a rejected call left no trace
    const a = decoder.decodeChunk(valid, 12, V, scalars());
    const b = twin.decodeChunk(valid, 12, V, scalars());
    expect(new Uint8Array(a)).toEqual(new Uint8Array(b));
    expect(new Uint8Array(decoder.finalize(scalars()))).toEqual(new Uint8Array(twin.finalize(scalars())));
  });
});
