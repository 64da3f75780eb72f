/**
 * fbank -> vad -> endpoint as the session runs them, on real speech: the utterances, speech events and frames do not
 * depend on how the audio is cut (1 sample, 159 / 160 / 161, cuts exactly where the silence or the maximum is reached,
 * 50 ms, all at once), and each comes out in the push that completes the fbank frame it depends on, not later. The
 * operator tests (endpoint.test.ts, dsp-stages.test.ts) feed hand-made decisions or 177 / 800-sample chunks.
 */
import { Subject, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { endpoint, type EndpointSettings } from '../../src/stream/endpoint.js';
import { fbank } from '../../src/stream/fbank.js';
import type { ControlItem, SamplesItem, SegmentItem } from '../../src/stream/stream-items.js';
import { vad } from '../../src/stream/vad.js';
import { concat, seconds, speechClips } from './helpers.js';

const clips = speechClips();
const asterisk = clips.find((c) => c.set === 'asterisk')!.samples;
const down = clips.find((c) => c.set === 'sc_testset_v002')!.samples;
/** Two utterances; the second ends 300 ms before the stream does (its final is the end's). */
const X = concat([seconds(0.5), asterisk, seconds(0.8), down, seconds(0.3)]);

/** One output entry per frame or event, with the number of samples pushed when it came out. */
interface Out {
  what: string;
  at: number;
}

function run(x: Float32Array, sizes: readonly number[], settings: EndpointSettings): Out[] {
  const input = new Subject<SamplesItem | ControlItem>();
  const out: Out[] = [];
  let pushed = 0;
  input.pipe(fbank(), vad(), endpoint(of(settings))).subscribe((s: SegmentItem) => {
    if (s.kind === 'utterance.frames') {
      for (let j = 0; j < s.frames; j++) out.push({ what: `f${s.firstFrame + j}`, at: pushed });
    } else if (s.kind === 'utterance.end') out.push({ what: `end:${s.reason}@${s.endFrame}`, at: pushed });
    else if (s.kind === 'utterance.start') out.push({ what: `start@${s.startFrame}`, at: pushed });
    else if (s.kind === 'end') out.push({ what: 'END', at: pushed });
    else out.push({ what: `${s.kind}@${s.audioMs}`, at: pushed });
  });
  for (let o = 0, k = 0; o < x.length; k++) {
    const n = Math.min(x.length - o, sizes[k % sizes.length]!);
    pushed = o + n;
    input.next({ kind: 'samples', samples: x.slice(o, o + n), arrivalMs: k });
    o += n;
  }
  pushed = Infinity;
  input.next({ kind: 'end', reason: 'session_end', arrivalMs: 1e9, audioMs: (x.length / 16) });
  input.complete();
  return out;
}

/** Samples that complete fbank frame f (docs/architecture.md: frame i needs sample 160 i + 279). */
const due = (f: number): number => 160 * f + 280;

describe('fbank -> vad -> endpoint streaming', () => {
  for (const settings of [{ silenceMs: 500, maxUtteranceMs: 15000 }, { silenceMs: 505, maxUtteranceMs: 1009 }]) {
    const label = `silence ${settings.silenceMs}, max ${settings.maxUtteranceMs}`;
    const ref = run(X, [X.length], settings).map((o) => o.what);

    it(`${label}: the same output for any cutting of the audio`, () => {
      expect(ref.filter((w) => w.startsWith('end:')).length).toBeGreaterThanOrEqual(2);
      // cuts exactly at, one before and one after each sample count that completes an endpoint's frame
      const cuts = ref.flatMap((w) => {
        const m = /^end:(silence|max_utterance)@(\d+)$/.exec(w);
        return m ? [due(Number(m[2]) - 1) - 1, due(Number(m[2]) - 1), due(Number(m[2]) - 1) + 1] : [];
      });
      const atCuts = cuts.map((c, i) => c - (i > 0 ? cuts[i - 1]! : 0)).concat([X.length]);
      for (const sizes of [[1], [159], [160], [161], [800], [1, 159, 161, 7, 0], [80, 240], atCuts]) {
        expect(run(X, sizes, settings).map((o) => o.what), `sizes ${sizes.slice(0, 6).join(',')}`).toEqual(ref);
      }
    });

    it(`${label}: every frame and event comes out in the push that completes the frame it needs`, () => {
      const out = run(X, [1], settings);
      let frame = -1;
      for (const o of out) {
        const f = /^f(\d+)$/.exec(o.what);
        if (f) {
          frame = Number(f[1]);
          // a ring frame comes out with the onset that opens its utterance; every other one as soon as it exists
          expect(o.at, o.what).toBeGreaterThanOrEqual(due(frame));
          continue;
        }
        const e = /^end:(silence|max_utterance)@(\d+)$/.exec(o.what);
        if (e) expect(o.at, o.what).toBe(due(Number(e[2]) - 1));
        const s = /^speech\.started@(\d+)$/.exec(o.what);
        // the onset is decided on its third frame (onsetFrames 3), or at once after a max_utterance cut
        if (s) expect([due(Number(s[1]) / 10 + 2), due(Number(s[1]) / 10)], o.what).toContain(o.at);
      }
      // frames after the onset (not the ring, nor the ones the end flushes): exactly when they exist
      const open = out.filter((o, i) => /^f\d+$/.test(o.what) && i > 0 && /^f\d+$/.test(out[i - 1]!.what)
        && out[i - 1]!.at !== o.at && o.at !== Infinity);
      expect(open.length).toBeGreaterThan(100);
      for (const o of open) expect(o.at, o.what).toBe(due(Number(o.what.slice(1))));
    });
  }
});
