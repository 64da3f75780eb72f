import { availableParallelism } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateEncoderPoolOptions, type EncoderPoolOptions } from '../../src/inference/encoder-pool-options.js';
import { validateEncoderShardsOptions, type EncoderShardsOptions } from '../../src/inference/encoder-shards.js';
import {
  DEFAULT_GATEWAY_CONFIG, defaultModelDir, gatewayConfigFromSources, packageRoot, resolveGatewayConfig,
} from '../../src/server/config.js';
import { badConfig } from './helpers.js';

describe('gateway config', () => {
  it('has the documented defaults; the model dir is under the package root whatever the cwd', () => {
    const c = gatewayConfigFromSources({}, {});
    expect(c).toMatchObject({
      port: 8080, host: '0.0.0.0', transport: 'uws', precision: 'auto', maxSessions: 200, apiKeysFile: null, maxSessionsPerKey: 0,
      logLevel: 'info', idleTimeoutMs: 30_000, maxDurationMs: 3_600_000, flowHighWaterMs: 2000, flowLowWaterMs: 500,
      backlogLimitMs: 10_000, maxFrameBytes: 1024 * 1024, outboundSoftLimitBytes: 256 * 1024,
      outboundHardLimitBytes: 4 * 1024 * 1024, vad: 'energy', beamSize: undefined, decoder: 'beam', batchWindowMs: 0,
    });
    expect(c.encoderWorkers).toBe(Math.min(2, availableParallelism()));
    expect(c.modelDir).toBe(path.join(packageRoot(), 'models', 'voxgate-conformer-ctc-en'));
    expect(defaultModelDir()).toBe(c.modelDir);
    expect(path.isAbsolute(c.modelDir)).toBe(true);
    expect(DEFAULT_GATEWAY_CONFIG.port).toBe(8080);
  });

  it('takes env over defaults and flags over env', () => {
    const env = { PORT: '9000', HOST: '127.0.0.1', VOXGATE_TRANSPORT: 'ws', VOXGATE_MAX_SESSIONS: '5',
      VOXGATE_PRECISION: 'fp32', VOXGATE_MODEL: 'some/dir', VOXGATE_API_KEYS: 'keys.txt', LOG_LEVEL: 'WARN' };
    const fromEnv = gatewayConfigFromSources({}, env);
    expect(fromEnv).toMatchObject({ port: 9000, host: '127.0.0.1', transport: 'ws', maxSessions: 5, precision: 'fp32',
      modelDir: path.resolve('some/dir'), apiKeysFile: path.resolve('keys.txt'), logLevel: 'warn' });
    const fromFlags = gatewayConfigFromSources({ port: '0', transport: 'uws', 'max-sessions': '7', 'idle-timeout-ms': '500' }, env);
    expect(fromFlags).toMatchObject({ port: 0, transport: 'uws', maxSessions: 7, idleTimeoutMs: 500, host: '127.0.0.1' });
    expect(gatewayConfigFromSources({ vad: 'off', 'beam-size': '1' }, { VOXGATE_VAD: 'energy', VOXGATE_BEAM_SIZE: '4' }))
      .toMatchObject({ vad: 'off', beamSize: 1 });
    expect(gatewayConfigFromSources({}, { VOXGATE_VAD: 'off', VOXGATE_BEAM_SIZE: '4' })).toMatchObject({ vad: 'off', beamSize: 4 });
    expect(gatewayConfigFromSources({}, {})).toMatchObject({ lmWeight: 0.8, lmTokenBonus: 0.5 });
    expect(gatewayConfigFromSources({}, { VOXGATE_DECODER: 'greedy' })).toMatchObject({ decoder: 'greedy' });
    expect(gatewayConfigFromSources({ decoder: 'beam' }, { VOXGATE_DECODER: 'greedy' })).toMatchObject({ decoder: 'beam' });
    expect(gatewayConfigFromSources({ 'lm-weight': '0' }, { VOXGATE_LM_WEIGHT: '0.8', VOXGATE_LM_TOKEN_BONUS: '-.5' }))
      .toMatchObject({ lmWeight: 0, lmTokenBonus: -0.5 });
    expect(gatewayConfigFromSources({ 'encoder-workers': '2' }, { VOXGATE_ENCODER_WORKERS: '3' })).toMatchObject({ encoderWorkers: 2 });
    expect(gatewayConfigFromSources({}, { VOXGATE_ENCODER_WORKERS: '3' })).toMatchObject({ encoderWorkers: 3 });
    expect(gatewayConfigFromSources({ 'batch-window-ms': '5' }, { VOXGATE_BATCH_WINDOW_MS: '9' }))
      .toMatchObject({ batchWindowMs: 5 });
    expect(gatewayConfigFromSources({}, { VOXGATE_BATCH_WINDOW_MS: '9' })).toMatchObject({ batchWindowMs: 9 });
    expect(gatewayConfigFromSources({ 'max-sessions-per-key': '4' }, { VOXGATE_API_KEYS: 'k', VOXGATE_MAX_SESSIONS_PER_KEY: '9' }))
      .toMatchObject({ maxSessionsPerKey: 4 });
  });

  it('rejects bad values with GW_ERR_BAD_CONFIG quoting them', () => {
    expect(badConfig(() => gatewayConfigFromSources({ port: '70000' }, {}))).toContain('70000');
    expect(badConfig(() => gatewayConfigFromSources({ port: 'eighty' }, {}))).toContain('"eighty"');
    expect(badConfig(() => gatewayConfigFromSources({}, { PORT: '1.5' }))).toContain('PORT');
    expect(badConfig(() => gatewayConfigFromSources({ transport: 'tcp' }, {}))).toContain('"tcp"');
    expect(badConfig(() => gatewayConfigFromSources({ precision: 'fp16' }, {}))).toContain('"fp16"');
    expect(badConfig(() => gatewayConfigFromSources({ 'max-sessions': '0' }, {}))).toContain('maxSessions');
    expect(badConfig(() => gatewayConfigFromSources({ 'log-level': 'loud' }, {}))).toContain('"loud"');
    expect(badConfig(() => gatewayConfigFromSources({ vad: 'silero' }, {}))).toContain('"silero"');
    expect(badConfig(() => gatewayConfigFromSources({}, { VOXGATE_DECODER: 'viterbi' }))).toContain('"viterbi"');
    expect(badConfig(() => gatewayConfigFromSources({ 'lm-weight': 'high' }, {}))).toContain('"high"');
    expect(badConfig(() => gatewayConfigFromSources({ 'encoder-workers': '17' }, {}))).toContain('encoderWorkers');
    expect(badConfig(() => gatewayConfigFromSources({ 'batch-window-ms': '51' }, {}))).toContain('batchWindowMs');
    expect(badConfig(() => gatewayConfigFromSources({ 'lm-weight': '11' }, {}))).toContain('lmWeight');
    expect(badConfig(() => gatewayConfigFromSources({}, { VOXGATE_LM_TOKEN_BONUS: '1e3' }))).toContain('VOXGATE_LM_TOKEN_BONUS');
    expect(badConfig(() => resolveGatewayConfig({ flowLowWaterMs: 3000 }))).toContain('3000');
    expect(badConfig(() => resolveGatewayConfig({ backlogLimitMs: 1500 }))).toContain('1500');
    expect(badConfig(() => resolveGatewayConfig({ outboundHardLimitBytes: 1024 }))).toContain('1024');
    expect(badConfig(() => resolveGatewayConfig({ host: '' }))).toContain('host');
    expect(badConfig(() => gatewayConfigFromSources({ 'max-sessions-per-key': '-1', 'api-keys': 'k' }, {})))
      .toContain('maxSessionsPerKey');
    expect(badConfig(() => gatewayConfigFromSources({}, { VOXGATE_MAX_SESSIONS_PER_KEY: '3' })))
      .toContain('maxSessionsPerKey needs apiKeysFile');
  });

  it('refuses an empty path flag instead of taking it for the working directory', () => {
    // `--model "$DIR"` with DIR unset: path.resolve('') is the cwd, so the error quoted a directory nobody named
    for (const flags of [{ model: '' }, { 'api-keys': '' }, { 'tls-cert': '', 'tls-key': 'key.pem' }]) {
      const flag = Object.keys(flags)[0]!;
      expect(badConfig(() => gatewayConfigFromSources(flags, {}))).toBe(`--${flag} must be a path, got ""`);
    }
  });

  it('names the flag or environment variable a bad value came from, and quotes the value as given', () => {
    expect(badConfig(() => gatewayConfigFromSources({ 'max-sessions': '0' }, {})))
      .toBe('--max-sessions: maxSessions must be an integer in [1, 100000], got 0');
    expect(badConfig(() => gatewayConfigFromSources({}, { VOXGATE_MAX_SESSIONS: '0' })))
      .toBe('VOXGATE_MAX_SESSIONS: maxSessions must be an integer in [1, 100000], got 0');
    expect(badConfig(() => gatewayConfigFromSources({ 'log-level': 'LOUD' }, {}))).toMatch(/^--log-level: .*, got "LOUD"$/);
    expect(badConfig(() => gatewayConfigFromSources({}, { LOG_LEVEL: 'Loud' }))).toMatch(/^LOG_LEVEL: .*, got "Loud"$/);
    expect(badConfig(() => gatewayConfigFromSources({ 'flow-low-water-ms': '3000' }, {})))
      .toMatch(/^--flow-low-water-ms: flowLowWaterMs must be below flowHighWaterMs \(2000\), got 3000$/);
    expect(badConfig(() => gatewayConfigFromSources({}, { VOXGATE_MAX_SESSIONS_PER_KEY: '3' })))
      .toMatch(/^VOXGATE_MAX_SESSIONS_PER_KEY: maxSessionsPerKey needs apiKeysFile/);
    // a value nobody gave is not blamed on a flag
    expect(badConfig(() => resolveGatewayConfig({ maxSessions: 0 }))).toMatch(/^maxSessions must be/);
  });

  it('takes exactly the encoder settings the encoder pool takes, so a bad one stops the server before it listens', () => {
    // the pool validates its options only once the model loads, after the port is open
    const range = (flag: string): [number, number] => {
      const m = /in \[(\d+), (\d+)\]/.exec(badConfig(() => gatewayConfigFromSources({ [flag]: '1000000' }, {})))!;
      return [Number(m[1]), Number(m[2])];
    };
    const pool = (o: Partial<EncoderPoolOptions>) => () => validateEncoderPoolOptions(o as EncoderPoolOptions);
    for (const [flag, key] of [['threads', 'intraOpThreads'], ['max-batch', 'maxBatch'], ['batch-window-ms', 'batchWindowMs']]) {
      const [min, max] = range(flag!);
      expect(pool({ [key!]: min }), `${flag} ${min}`).not.toThrow();
      expect(pool({ [key!]: max }), `${flag} ${max}`).not.toThrow();
      expect(pool({ [key!]: max + 1 }), `${flag} ${max + 1}`).toThrow();
    }
    const [min, max] = range('encoder-workers');
    const shards = (workers: number) => () => validateEncoderShardsOptions({ workers } as EncoderShardsOptions);
    expect(shards(min)).not.toThrow();
    expect(shards(max)).not.toThrow();
    expect(shards(max + 1)).toThrow();
  });
});
