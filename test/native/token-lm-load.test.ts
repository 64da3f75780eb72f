/**
 * TokenLm.load against the model it serves: a token-lm.bin built for another vocabulary must fail when the model
 * directory is loaded (GW_ERR_BAD_CONFIG naming the file), not later in every session's decoder construction.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadModelInfo } from '../../src/inference/nemo-ctc-model.js';
import { TOKEN_LM_FILE, TokenLm } from '../../src/inference/token-lm.js';
import { MODEL_DIR } from '../inference/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'voxgate-lm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('TokenLm.load with the model vocabulary', () => {
  const info = loadModelInfo(MODEL_DIR, { precision: 'int8' });
  const shipped = join(MODEL_DIR, TOKEN_LM_FILE);

  it('loads the shipped LM for the shipped model', () => {
    expect(TokenLm.load(shipped, info.blankId, info.vocabSize).vocabSize).toBe(info.vocabSize);
  });

  it('refuses an LM of another vocabulary size, naming the file and both sizes', () => {
    expect(() => TokenLm.load(shipped, info.blankId, info.vocabSize + 1)).toThrow(expect.objectContaining({
      code: 'GW_ERR_BAD_CONFIG',
      message: expect.stringMatching(new RegExp(`token-lm\\.bin.*vocab size ${info.vocabSize}.*${info.vocabSize + 1}`)),
    }));
  });

  it('names the file for a truncated copy, an empty file and a wrong magic', () => {
    const bytes = readFileSync(shipped);
    const cases: Array<[string, Uint8Array]> = [
      ['truncated.bin', bytes.subarray(0, bytes.length - 3)],
      ['empty.bin', new Uint8Array(0)],
      ['magic.bin', Buffer.concat([Buffer.from('VXLN'), bytes.subarray(4)])],
    ];
    for (const [name, data] of cases) {
      const path = join(tmp, name);
      writeFileSync(path, data);
      expect(() => TokenLm.load(path, info.blankId, info.vocabSize), name)
        .toThrow(expect.objectContaining({ code: 'GW_ERR_BAD_CONFIG', message: expect.stringContaining(path) }));
    }
    copyFileSync(shipped, join(tmp, 'ok.bin'));
    expect(TokenLm.load(join(tmp, 'ok.bin'), info.blankId, info.vocabSize).numStates).toBeGreaterThan(1);
  });
});
