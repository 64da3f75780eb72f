/**
 * Errors of `voxgate serve`'s configuration (config.ts, gatewayConfigFromSources) name what the operator typed: the
 * flag or environment variable, and its value as given. A rule between two settings named neither when the value
 * given was the second one (`--flow-high-water-ms 400` under the default low-water mark of 500), and a number past
 * 2^53 was quoted as the number JavaScript rounded it to.
 */
import { describe, expect, it } from 'vitest';
import { gatewayConfigFromSources } from '../../src/server/config.js';
import { badConfig } from './helpers.js';

describe('gateway config errors name their source', () => {
  it('blames a rule between two settings on the one that was given', () => {
    expect(badConfig(() => gatewayConfigFromSources({ 'flow-high-water-ms': '400' }, {})))
      .toBe('--flow-high-water-ms: flowLowWaterMs must be below flowHighWaterMs (400), got 500');
    expect(badConfig(() => gatewayConfigFromSources({}, { VOXGATE_OUTBOUND_SOFT_LIMIT_BYTES: '5000000' })))
      .toMatch(/^VOXGATE_OUTBOUND_SOFT_LIMIT_BYTES: outboundHardLimitBytes must exceed outboundSoftLimitBytes \(5000000\)/);
    expect(badConfig(() => gatewayConfigFromSources({ 'tls-key': 'key.pem' }, {})))
      .toMatch(/^--tls-key: tlsCertFile and tlsKeyFile go together/);
    // both given: the field the rule is about comes first
    expect(badConfig(() => gatewayConfigFromSources({ 'flow-low-water-ms': '900', 'flow-high-water-ms': '800' }, {})))
      .toMatch(/^--flow-low-water-ms: flowLowWaterMs must be below flowHighWaterMs \(800\), got 900$/);
  });

  it('quotes a number too large to hold as it was typed', () => {
    expect(badConfig(() => gatewayConfigFromSources({ port: '99999999999999999999' }, {})))
      .toBe('--port: port must be an integer in [0, 65535], got "99999999999999999999"');
    expect(badConfig(() => gatewayConfigFromSources({}, { VOXGATE_MAX_SESSIONS: '-9007199254740993' })))
      .toMatch(/^VOXGATE_MAX_SESSIONS: .*got "-9007199254740993"$/);
    expect(gatewayConfigFromSources({ port: '0065535' }, {}).port).toBe(65535);
  });

  it("refuses numbers with surrounding spaces, as the CLI's own number flags do", () => {
    expect(badConfig(() => gatewayConfigFromSources({ port: ' 5' }, {})))
      .toBe('--port must be an integer, got " 5"');
    expect(badConfig(() => gatewayConfigFromSources({}, { VOXGATE_LM_WEIGHT: '0.5 ' })))
      .toBe('VOXGATE_LM_WEIGHT must be a number, got "0.5 "');
  });
});
