/**
 * The child process of alloc-failure.test.ts, run under tsx with native/fuzz/alloc-fault.cc preloaded (its path in
 * VOXGATE_ALLOC_FAULT). For every native entry point it sweeps n = 0, 1, 2, ...: the n-th allocation of the addon's
 * own code in that one call throws std::bad_alloc, until a call needs fewer than n + 1 allocations. Each failed call
 * must throw a coded error (a crash ends the child), and the object must then go on as if the call had not been made
 * (the strong guarantee), or refuse every call but reset() with a coded error. Prints one JSON line per entry point:
 * {call, faults, problems}, `problems` empty when every n passed.
 *
 * Inputs are real: the shipped model's log-posteriors of a speech clip (test/fixtures/model), its token LM, a speech
 * signal for the DSP twins.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { CtcDecoder, type CtcDecodeResult, type Hotword } from '../../src/inference/ctc-decoder.js';
import { createNativeResampler, loadNativeAddon } from '../../src/inference/native-addon.js';
import { TOKEN_LM_FILE, TokenLm } from '../../src/inference/token-lm.js';
import { GatewayError } from '../../src/protocol/errors.js';
import { MODEL_DIR, MODEL_FIXTURE_DIR, readF32, REPO } from '../inference/helpers.js';
import { idsOf, V } from './ctc-fixtures.js';

interface Shim { arm(n: number): void; disarm(): boolean }
const shim = createRequire(import.meta.url)(process.env['VOXGATE_ALLOC_FAULT']!) as Shim;

/** A call's name: sweep only that one (`node --import tsx test/native/alloc-failure-child.ts setHotwords`). */
const only = process.argv[2];
const CHUNK_FRAMES = 8; // 320 ms, the default latency preset
const logProbs = readF32(join(MODEL_FIXTURE_DIR, 'logp_c4.bin')); // "layla wants have some biscuit"
const chunks: Float32Array[] = [];
for (let at = 0; at < logProbs.length; at += CHUNK_FRAMES * V) chunks.push(logProbs.subarray(at, at + CHUNK_FRAMES * V));
const lmBytes = readFileSync(join(MODEL_DIR, TOKEN_LM_FILE));
const lm = new TokenLm(lmBytes, 0);
const words = (list: string[], boost: number): Hotword[] => list.map((w) => ({ tokenIds: idsOf(w), boost }));
const LIST_A = words(['layla', 'biscuit'], 2);
const LIST_B = words(['biscuits', 'wants', 'some', 'have some'], 3);

function decoder(hotwords: readonly Hotword[] = LIST_A, lmOf: TokenLm = lm): CtcDecoder {
  const d = new CtcDecoder({ vocabSize: V, beamSize: 16, lm: lmOf });
  d.setHotwords(hotwords);
  return d;
}

const show = (r: CtcDecodeResult): string => JSON.stringify([Array.from(r.tokens), Array.from(r.frames),
  Array.from(r.probs), r.score, r.stablePrefixLength, r.trailingBlankFrames, r.framesDecoded]);

/** Every result from chunk `from` on, the n-best list, the final: what a session would send. */
function decodeFrom(d: CtcDecoder, from: number): string {
  const out = chunks.slice(from).map((c) => show(d.decodeChunk(c, c.length / V)));
  out.push(JSON.stringify(d.finalAlternatives().map((a) => [Array.from(a.tokens), a.score])));
  out.push(show(d.finalize()));
  return out.join('\n');
}

/** A decoder with LIST_A after `k` chunks, then given `switchTo` (its automaton's rows not yet memoised). */
function after(k: number, switchTo?: readonly Hotword[]): CtcDecoder {
  const d = decoder();
  for (const c of chunks.slice(0, k)) d.decodeChunk(c, c.length / V);
  if (switchTo !== undefined) d.setHotwords(switchTo);
  return d;
}

const K = 3; // the sweeps start mid-utterance

/** What a decoder in the state after(K, switchTo) gives: current(), the rest of the utterance, all of it after reset(). */
function expected(switchTo?: readonly Hotword[]): { current: string; rest: string; afterReset: string } {
  const d = after(K, switchTo);
  const current = show(d.current());
  const rest = decodeFrom(d, K);
  const again = after(K, switchTo);
  again.reset();
  return { current, rest, afterReset: decodeFrom(again, 0) };
}
const A = expected();

/** A decoder error as the gateway sees it: GW_ERR_DECODER, coded by the binding itself (not a fallback). */
function decoderProblem(e: unknown, { ctor = false } = {}): string | null {
  if (!(e instanceof GatewayError) || e.code !== 'GW_ERR_DECODER') return `not a GW_ERR_DECODER GatewayError: ${String(e)}`;
  const cause = e.cause as { code?: string } | undefined;
  // A constructor's first allocations are node-addon-api's (the wrapper object, the arguments beyond six), before
  // the binding's code runs: its backstop throws them uncoded, and CtcDecoder's constructor codes them.
  if (!ctor && cause?.code !== 'GW_ERR_DECODER') return `the binding did not code it: ${String(e.cause)}`;
  return null;
}

/**
 * Sweeps one call: `setup` builds fresh state (no faults), `op` makes exactly one native call, `check` returns what
 * is wrong after the n-th allocation failed in it (null: nothing). Prints {start} first, so that a crash names the
 * call, then the report.
 */
function sweep<S>(call: string, setup: () => S, op: (s: S) => unknown, check: (s: S, e: unknown, n: number) => string | null): void {
  if (only !== undefined && call !== only) return;
  console.log(JSON.stringify({ start: call }));
  const problems: string[] = [];
  let faults = 0;
  for (let n = 0; n < 10_000; n++) {
    const s = setup();
    let error: unknown = null;
    shim.arm(n);
    try {
      op(s);
    } catch (e) {
      error = e;
    }
    if (!shim.disarm()) {
      if (error !== null) problems.push(`n=${n}: threw without a fault: ${String(error)}`);
      break;
    }
    faults++;
    let problem: string | null;
    try {
      problem = error === null ? 'an allocation failed and the call returned normally' : check(s, error, n);
    } catch (e) {
      problem = `threw after the fault: ${String(e)}`;
    }
    if (problem !== null) problems.push(`n=${n}: ${problem}`);
  }
  console.log(JSON.stringify({ call, faults, problems }));
}

const same = (what: string, got: string, want: string): string | null => (got === want ? null : `${what} differs`);

/** A call that must be refused: its error, or null when it went through. */
function refusal(call: () => unknown): unknown {
  try {
    call();
  } catch (e) {
    return e;
  }
  return null;
}

/** After a failed decodeChunk: the state before the call, or (part of the chunk decoded) refusals until reset(). */
function chunkProblem(d: CtcDecoder, e: unknown, want: ReturnType<typeof expected>): string | null {
  const problem = decoderProblem(e);
  if (problem !== null) return problem;
  const refused = refusal(() => d.current());
  if (refused === null) return same('current()', show(d.current()), want.current) ?? same('the rest', decodeFrom(d, K), want.rest);
  const again = refusal(() => d.decodeChunk(chunks[K]!, CHUNK_FRAMES));
  d.reset();
  return decoderProblem(refused) ?? decoderProblem(again) ?? same('after reset()', decodeFrom(d, 0), want.afterReset);
}

sweep('new CtcDecoder (with a new TokenLm)', () => new TokenLm(lmBytes, 0), (l) => decoder(LIST_A, l),
  (l, e) => decoderProblem(e, { ctor: true }) ?? same('a later decoder', decodeFrom(decoder(LIST_A, l), 0), A.afterReset));
sweep('setHotwords', () => after(K), (d) => d.setHotwords(LIST_B), (d, e) => decoderProblem(e)
  ?? same('current() (old list)', show(d.current()), A.current) ?? same('the rest (old list)', decodeFrom(d, K), A.rest));
sweep('decodeChunk', () => after(K), (d) => d.decodeChunk(chunks[K]!, CHUNK_FRAMES), (d, e) => chunkProblem(d, e, A));
// the first chunk under a new list fills its automaton's memo: a failure there must not leave a partial row behind
const AB = expected(LIST_B);
sweep('decodeChunk after setHotwords', () => after(K, LIST_B), (d) => d.decodeChunk(chunks[K]!, CHUNK_FRAMES),
  (d, e) => chunkProblem(d, e, AB));
sweep('current', () => after(K), (d) => d.current(),
  (d, e) => decoderProblem(e) ?? same('the rest', decodeFrom(d, K), A.rest));
sweep('finalAlternatives', () => after(K), (d) => d.finalAlternatives(),
  (d, e) => decoderProblem(e) ?? same('the rest', decodeFrom(d, K), A.rest));
sweep('finalize', () => after(chunks.length), (d) => d.finalize(), (d, e) => decoderProblem(e)
  ?? same('the final', decodeFrom(d, chunks.length), decodeFrom(after(chunks.length), chunks.length))
  ?? same('the next utterance', decodeFrom(d, 0), A.afterReset));
sweep('reset', () => after(K), (d) => d.reset(), (d, e) => {
  d.reset();
  return decoderProblem(e) ?? same('after reset()', decodeFrom(d, 0), A.afterReset);
});
dspSweeps();

/** The DSP twins, raw binding: errors coded GW_ERR_INTERNAL; a failed push or flush can be made again. */
function dspSweeps(): void {
  const addon = loadNativeAddon();
  const speech = readF32(join(REPO, 'test/fixtures/fbank/speech.wav.f32'));
  // small pushes first, then one of a second (the buffers grow), then the rest
  const parts = [speech.subarray(0, 320), speech.subarray(320, 640), speech.subarray(640, 16640), speech.subarray(16640)];
  type Stage = { push(x: Float32Array): Float32Array; flush(): Float32Array };
  const run = (s: Stage, from: number): number[] => [...parts.slice(from).flatMap((p) => Array.from(s.push(p))),
    ...Array.from(s.flush())];
  // `wrapper`: the allocation is node-addon-api's, before the binding's code (see decoderProblem)
  const internal = (e: unknown, wrapper = false): string | null => {
    if (!(e instanceof Error)) return `not an Error: ${String(e)}`;
    const code = (e as { code?: string }).code;
    if (code === 'GW_ERR_INTERNAL' || (wrapper && e.message === 'std::bad_alloc')) return null;
    return `code ${String(code)}: ${e.message}`;
  };
  // [name, make, node-addon-api's allocations before the binding's constructor runs, a push too short for output]
  const stages: [string, () => Stage, number, number][] = [
    ['FbankExtractor', () => new addon.FbankExtractor(), 1, 100], // frame 0 needs 280 samples, flush makes it
    ['Resampler', () => createNativeResampler(8000, 16000), 1, 8], // its first output needs 42 (halfTaps)
  ];
  for (const [name, make, wrapperAllocs, short] of stages) {
    const upTo = (k: number): Stage => {
      const s = make();
      for (const p of parts.slice(0, k)) s.push(p);
      return s;
    };
    // the flush is the first output, so that it allocates (each stage keeps the capacity of its output buffer)
    const shortPush = (): Stage => {
      const s = make();
      s.push(speech.subarray(0, short));
      return s;
    };
    const whole = JSON.stringify(run(make(), 0));
    const fromTwo = JSON.stringify(run(upTo(2), 2));
    const shortFlush = JSON.stringify(Array.from(shortPush().flush()));
    sweep(`new ${name}`, () => null, make, (_, e, n) => internal(e, n < wrapperAllocs));
    sweep(`${name}.push`, () => upTo(2), (s) => s.push(parts[2]!),
      (s, e) => internal(e) ?? same('the push made again and the rest', JSON.stringify(run(s, 2)), fromTwo));
    sweep(`${name}.flush`, shortPush, (s) => s.flush(), (s, e) => internal(e)
      ?? same('the flush made again', JSON.stringify(Array.from(s.flush())), shortFlush)
      ?? same('the next stream', JSON.stringify(run(s, 0)), whole));
  }
}
