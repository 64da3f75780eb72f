/**
 * loadSpeechEngine and the model directory's token LM: an LM built for another vocabulary must stop the server at
 * model load (GW_ERR_BAD_CONFIG naming the file), not load and then fail every session when its decoder is built.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { TOKEN_LM_FILE } from '../../src/inference/token-lm.js';
import { loadSpeechEngine } from '../../src/server/speech-engine.js';
import { MODEL_DIR } from '../inference/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'voxgate-engine-lm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * A valid token-lm.bin (token-lm.ts's layout) of one state: every non-blank token of `vocabSize` (blank 0) equally
 * likely. Header: magic, version 1, order 1, vocab size, states, arcs, start state; then arc_start (states + 1),
 * backoff state, backoff weight, final log-prob (one each per state), arc token, arc next state, arc log-prob.
 */
function uniformUnigramLm(vocabSize: number): Buffer {
  const arcs = vocabSize - 1;
  const words = [1, 1, vocabSize, 1, arcs, 0, 0, arcs, -1];
  const out = Buffer.alloc(4 + 4 * (words.length + 2 + 3 * arcs));
  out.write('VXLM', 0, 'latin1');
  let at = 4;
  for (const w of words) at = out.writeInt32LE(w, at);
  const logP = -Math.log(vocabSize);
  at = out.writeFloatLE(0, at); // backoff weight
  at = out.writeFloatLE(logP, at); // final (end of sentence) shares the mass
  for (let t = 1; t <= arcs; t++) at = out.writeInt32LE(t, at);
  for (let t = 1; t <= arcs; t++) at = out.writeInt32LE(0, at);
  for (let t = 1; t <= arcs; t++) at = out.writeFloatLE(logP, at);
  return out;
}

describe('loadSpeechEngine token LM', () => {
  it('refuses a token-lm.bin of another vocabulary size at load', async () => {
    for (const name of readdirSync(MODEL_DIR)) {
      if (name !== TOKEN_LM_FILE) symlinkSync(join(MODEL_DIR, name), join(tmp, name));
    }
    const modelVocab = readFileSync(join(MODEL_DIR, 'tokens.txt'), 'utf8').trim().split('\n').length;
    writeFileSync(join(tmp, TOKEN_LM_FILE), uniformUnigramLm(modelVocab + 1));
    await expect(loadSpeechEngine({ modelDir: tmp, precision: 'int8' })).rejects.toMatchObject({
      code: 'GW_ERR_BAD_CONFIG', message: expect.stringContaining(join(tmp, TOKEN_LM_FILE)),
    });
  });
});
