/**
 * The shipped model recognises real held-out speech: onnxruntime-node loads models/voxgate-conformer-ctc-en, the
 * committed fixtures (test/fixtures/speech, human reference transcripts from the corpus manifests) are streamed
 * chunk by chunk with carried caches, greedy-decoded, and scored against the references.
 *
 * STATED_WER is the figure this test holds the model to; models/voxgate-conformer-ctc-en/README.md states it too.
 * Raise the bar (lower the number) whenever a better model is shipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { WerAccumulator } from '../../src/cli/wer.js';
import { EncoderPool } from '../../src/inference/encoder-pool.js';
import { loadModelInfo } from '../../src/inference/nemo-ctc-model.js';
import { MODEL_DIR, fbankOf, greedyCtc, readWav16, speechClips, streamChunks } from './helpers.js';

/** Corpus WER (word edits / reference words) over the fixtures at chunk 160 ms, per precision. */
export const STATED_WER = { fp32: 0.95, int8: 0.95 } as const;

describe.each(['fp32', 'int8'] as const)('shipped model (%s) on held-out real speech', (precision) => {
  let pool: EncoderPool;
  beforeAll(async () => {
    pool = await EncoderPool.create({ model: loadModelInfo(MODEL_DIR, { precision }), intraOpThreads: 1 });
  });
  afterAll(() => pool.close());

  it(`streams with carried caches and greedy-decodes within WER ${STATED_WER[precision]}`, async () => {
    const tokens = pool.info.tokens;
    const acc = new WerAccumulator();
    const lines: string[] = [];
    for (const clip of speechClips()) {
      const { samples, sampleRateHz } = readWav16(clip.file);
      expect(sampleRateHz).toBe(16000);
      const stream = pool.openStream();
      const out = await streamChunks(stream, fbankOf(samples), 4);
      stream.close();
      const { ids } = greedyCtc(out.logProbs, out.frames, out.vocabSize, pool.info.blankId);
      const hyp = ids.map((i) => (i === pool.info.separatorId ? ' ' : tokens[i])).join('').replace(/ +/g, ' ').trim();
      acc.add(clip.text, hyp);
      lines.push(`${clip.set}: "${clip.text}" -> "${hyp}"`);
    }
    const wer = acc.wer;
    console.info(`${precision} greedy, chunk 160 ms: WER ${(100 * wer).toFixed(1)}%\n  ${lines.join('\n  ')}`);
    expect(wer).toBeLessThanOrEqual(STATED_WER[precision]);
  }, 60_000);
});
