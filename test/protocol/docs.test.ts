import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, GatewayError, GW_ERROR_CODES, GW_ERRORS } from '../../src/protocol/errors.js';
import { LATENCY_CHUNK_MS, PROTOCOL_LIMITS as L, SESSION_DEFAULTS as D } from '../../src/protocol/messages.js';
import { normaliseSessionStart, sessionConfigToStart } from '../../src/protocol/session-config.js';
import { parseClientMessage } from '../../src/protocol/validate.js';
import { DEFAULT_GATEWAY_CONFIG, DEFAULT_SESSION_LIMITS } from '../../src/server/config.js';
import { acceptSessionUpdate, sessionStartedMessage } from '../../src/server/session-start.js';
import { SessionStatsCounter } from '../../src/server/session-stats.js';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

/** Rows of the error table between the error-table markers. */
function errorRows(): Map<string, string[]> {
  const table = doc.split('<!-- error-table:start -->')[1]!.split('<!-- error-table:end -->')[0]!;
  const rows = new Map<string, string[]>();
  for (const line of table.split('\n')) {
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    const m = /^`(GW_ERR_[A-Z_]+)`$/.exec(cells[0] ?? '');
    if (m) rows.set(m[1]!, cells);
  }
  return rows;
}

/** The text of the section that starts with `heading`, up to the next heading of any level. */
function section(heading: string): string {
  return doc.split(heading)[1]!.split(/\n#{2,3} /)[0]!;
}

/** Cells of the table row whose first cell is `first` in `text`. */
function row(text: string, first: string): string[] {
  const line = text.split('\n').find((l) => l.startsWith(`| ${first} |`));
  expect(line, first).toBeDefined();
  return line!.split('|').slice(1, -1).map((c) => c.trim());
}

/** The fields the validator accepts in a message of `type`, read from its unknown-field error. */
function acceptedFields(type: string): string[] {
  try {
    parseClientMessage(JSON.stringify({ type, zz_unknown: 1 }));
  } catch (e) {
    const m = /\(allowed: ([^)]*)\)/.exec((e as GatewayError).message);
    if (m) return m[1]!.split(', ').filter((k) => k !== 'type');
  }
  throw new Error(`no allowed-field list for ${type}`);
}

/** 1 234 567 as the document writes numbers of five digits or more. */
const spaced = (n: number): string => (n >= 10000 ? n.toLocaleString('en-US').replace(/,/g, ' ') : String(n));

describe('docs/protocol.md', () => {
  it('lists exactly the registered error codes with their flags', () => {
    const rows = errorRows();
    expect([...rows.keys()].sort()).toEqual([...GW_ERROR_CODES].sort());
    for (const code of GW_ERROR_CODES) {
      const spec = GW_ERRORS[code];
      const [, fatal, close, http, retryable] = rows.get(code)!;
      expect({ code, fatal, close, http, retryable }).toEqual({
        code, fatal: spec.fatal ? 'yes' : 'no', close: String(spec.closeCode),
        http: spec.httpStatus === undefined ? '' : String(spec.httpStatus), retryable: spec.retryable ? 'yes' : 'no',
      });
    }
  });

  it('documents every close code', () => {
    for (const code of Object.values(CLOSE_CODES)) expect(doc).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });

  it('has a row for every session.start field and every session.started field the server sends', () => {
    const start = sessionConfigToStart(normaliseSessionStart({ type: 'session.start',
      audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000, channels: 2 }, hotwords: [{ phrase: 'a' }],
      multichannel: true, tag: 't', language: 'en', model: 'm' }));
    const startFields = [...Object.keys(start), 'chunk_ms', ...Object.keys(start.audio).map((k) => `audio.${k}`),
      ...Object.keys(start.endpointing!).map((k) => `endpointing.${k}`), 'hotwords[].phrase', 'hotwords[].boost']
      .filter((k) => k !== 'audio' && k !== 'endpointing');
    const startTable = doc.split('### `session.start`')[1]!.split('###')[0]!;
    for (const f of startFields) expect(startTable, f).toContain(`| \`${f}\``);
    const started = sessionStartedMessage('s', normaliseSessionStart(start), { modelName: 'm', language: 'en',
      createPipeline: () => { throw new Error('unused'); } }, DEFAULT_SESSION_LIMITS);
    const startedTable = doc.split('### `session.started`')[1]!.split('###')[0]!;
    for (const f of Object.keys(started).filter((k) => k !== 'type')) expect(startedTable, f).toContain(`| \`${f}\``);
    // the example's session.started has exactly the fields the server sends
    const example = /^< (\{"type":"session\.started".*)$/m.exec(doc.split('## 11. Example')[1]!)![1]!;
    expect(Object.keys(JSON.parse(example) as object).sort()).toEqual(Object.keys(started).sort());
  });

  it('gives session.start the ranges and defaults of validate.ts and SESSION_DEFAULTS', () => {
    const t = section('### `session.start`');
    const cells = (f: string): { range: string; dflt: string } => {
      const [, , range, dflt] = row(t, `\`${f}\``);
      return { range: range!, dflt: dflt! };
    };
    expect(cells('audio.sample_rate_hz').range).toBe(`${L.minSampleRateHz}..${L.maxSampleRateHz}`);
    expect(cells('interim_results').dflt).toBe(`\`${String(D.interimResults)}\``);
    expect(cells('latency').dflt).toBe(`\`${D.latency}\``);
    for (const [preset, ms] of Object.entries(LATENCY_CHUNK_MS)) {
      expect(cells('latency').range).toContain(`\`${preset}\` (${ms} ms`);
    }
    expect(cells('chunk_ms').range).toContain(`multiple of ${L.chunkStepMs} in ${L.minChunkMs}..${L.maxChunkMs}`);
    expect(cells('endpointing.silence_ms')).toMatchObject({ dflt: String(D.silenceMs) });
    expect(cells('endpointing.silence_ms').range).toContain(`${L.minSilenceMs}..${L.maxSilenceMs}`);
    expect(cells('endpointing.max_utterance_ms')).toEqual({ range: `${L.minMaxUtteranceMs}..${L.maxMaxUtteranceMs}`,
      dflt: String(D.maxUtteranceMs) });
    expect(cells('hotwords').range).toBe(`at most ${L.maxHotwords} entries`);
    expect(cells('hotwords[].phrase').range).toContain(`1..${L.maxHotwordChars} characters`);
    expect(cells('hotwords[].boost').range).toContain(`${L.minHotwordBoost}..${L.maxHotwordBoost}`);
    expect(Number(cells('hotwords[].boost').dflt)).toBe(D.hotwordBoost);
    expect(cells('denoise').dflt).toBe(`\`${D.denoise}\``);
    expect(cells('min_confidence').range).toMatch(/^0\.\.1;/);
    expect(Number(cells('min_confidence').dflt)).toBe(D.minConfidence);
    expect(cells('numerals').dflt).toBe(String(D.numerals));
    expect(cells('multichannel').dflt).toBe(String(D.multichannel));
    expect(cells('alternatives').range).toMatch(new RegExp(`^1\\.\\.${L.maxAlternatives};`));
    expect(Number(cells('alternatives').dflt)).toBe(D.alternatives);
    expect(cells('background_rejection_db').range).toMatch(new RegExp(`^0\\.\\.${L.maxBackgroundRejectionDb};`));
    expect(cells('background_rejection_db').dflt).toBe(`${D.backgroundRejectionDb} (off)`);
    expect(cells('tag').range).toMatch(new RegExp(`^1\\.\\.${L.maxSessionTagChars} characters`));
    expect(cells('language').range).toContain(`at most ${L.maxTagChars} characters`);
    expect(cells('model').range).toContain(`at most ${L.maxTagChars} characters`);
    expect(row(section('### `ping`'), '`id`')[2]).toBe(`string at most ${L.maxPingIdChars} characters`);
    // every field the validator accepts has a row
    for (const f of acceptedFields('session.start')) expect(t, f).toMatch(new RegExp(`^\\| \`${f}[.\`\\[]`, 'm'));
  });

  it('lists exactly the session.update fields the validator accepts, and session.updated as sent', () => {
    const t = section('### `session.update`');
    const documented = [...t.matchAll(/^\| `([a-z_]+)[`.]/gm)].map((m) => m[1]!);
    expect(documented.sort()).toEqual(acceptedFields('session.update').sort());
    for (const f of ['session.finalize', 'session.end']) expect(acceptedFields(f)).toEqual([]);
    expect(acceptedFields('ping')).toEqual(['id']);
    const config = normaliseSessionStart({ type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000,
      channels: 1 } });
    const noop = { updateHotwords: () => undefined, updateEndpointing: () => undefined,
      updateDecoding: () => undefined };
    const { reply } = acceptSessionUpdate({ type: 'session.update' }, config,
      noop as unknown as Parameters<typeof acceptSessionUpdate>[2]);
    const updated = /^`\{([^}]*)\}`/m.exec(section('### `session.updated`').trim())![1]!.split(', ');
    expect(updated.sort()).toEqual(Object.keys(reply).filter((k) => k !== 'type').sort());
  });

  it('lists exactly the stats session.ended carries', () => {
    const t = section('### `session.ended`');
    const documented = [...t.matchAll(/`stats\.([a-z_]+)`/g)].map((m) => m[1]!);
    expect([...new Set(documented)].sort()).toEqual(Object.keys(new SessionStatsCounter(0).toWire(0, 0, 0)).sort());
  });

  it('gives flow control, timeouts, backpressure and text budgets the defaults the server uses', () => {
    const flow = section('## 6. Inbound flow control');
    expect(row(flow, 'high-water mark')[1]).toBe(`${DEFAULT_SESSION_LIMITS.flowHighWaterMs} ms`);
    expect(row(flow, 'low-water mark')[1]).toBe(`${DEFAULT_SESSION_LIMITS.flowLowWaterMs} ms`);
    expect(row(flow, 'hard limit')[1]).toBe(`${DEFAULT_SESSION_LIMITS.backlogLimitMs} ms`);
    const budgets = section('### Rate limits on text frames');
    expect(row(budgets, 'text frames').slice(1)).toEqual([String(L.textMessagesBurst),
      `${L.textMessagesPerSecond} per second`]);
    expect(row(budgets, 'characters of text frames')[1]).toContain(spaced(L.textCharsBurst));
    expect(row(budgets, 'characters of text frames')[2]).toBe(`${spaced(L.textCharsPerSecond)} per second`);
    expect(row(budgets, 'refused text frames').slice(1)).toEqual([String(L.textRefusalsBurst),
      `${L.textRefusalsPerSecond} per second`]);
    const out = section('## 7. Outbound backpressure');
    expect(row(out, 'soft limit')[1]).toBe(`${DEFAULT_GATEWAY_CONFIG.outboundSoftLimitBytes / 1024} KiB`);
    expect(row(out, 'hard limit')[1]).toBe(`${DEFAULT_GATEWAY_CONFIG.outboundHardLimitBytes / 1024 / 1024} MiB`);
    const timeouts = section('## 8. Timeouts and drain');
    expect(row(timeouts, 'start')[1]).toMatch(new RegExp(`^${DEFAULT_SESSION_LIMITS.startTimeoutMs / 1000} s `));
    expect(row(timeouts, 'idle')[1]).toMatch(new RegExp(`^${DEFAULT_SESSION_LIMITS.idleTimeoutMs / 1000} s `));
    expect(row(timeouts, 'maximum session duration')[1]).toMatch(
      new RegExp(`^${DEFAULT_SESSION_LIMITS.maxDurationMs / 3_600_000} h `));
    expect(doc).toContain(`**1 MiB** (${spaced(L.maxFrameBytes)} bytes)`);
  });
});
