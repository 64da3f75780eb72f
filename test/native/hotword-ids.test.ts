/**
 * Hotword token ids at the edge of the decoder's range: the native decoder and its TypeScript reference must refuse
 * the same ids with GW_ERR_DECODER. An id is copied into an Int32Array on its way to the addon, where 2^32 + 3 would
 * wrap to 3 ("c") and bias a phrase nobody asked for.
 */
import { describe, expect, it } from 'vitest';

import { CtcDecoder, type CtcSearch } from '../../src/inference/ctc-decoder.js';
import { CtcPrefixBeamSearch } from '../../src/inference/ctc-prefix-beam-search.js';
import { TOKENS, V, handBuilt } from './ctc-fixtures.js';

describe.each([
  ['native', (): CtcSearch => new CtcDecoder({ vocabSize: V })],
  ['reference', (): CtcSearch => new CtcPrefixBeamSearch({ vocabSize: V })],
] as const)('setHotwords token ids (%s)', (_name, make) => {
  it.each([2 ** 32 + 3, 2 ** 32, 2 ** 31, -(2 ** 32) + 3, -1, V, 0])('refuses id %d and keeps the old hotwords', (id) => {
    const d = make();
    const c = TOKENS.indexOf('c');
    d.setHotwords([{ tokenIds: [c], boost: 8 }]);
    expect(() => d.setHotwords([{ tokenIds: [id], boost: 8 }]))
      .toThrow(expect.objectContaining({ code: 'GW_ERR_DECODER', message: expect.stringContaining(String(id)) }));
    // "c" stays boosted over the acoustically better "b": the rejected list changed nothing
    const r = d.decodeChunk(handBuilt(['b:.6 c:.3']), 1);
    expect([...r.tokens]).toEqual([c]);
  });
});
