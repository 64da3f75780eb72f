import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EVAL_HELP } from '../../src/cli/eval-command.js';
import { TRANSCRIBE_HELP } from '../../src/cli/transcribe-command.js';
import { DEFAULT_ENCODER_POOL_OPTIONS } from '../../src/inference/encoder-pool-options.js';
import { CLOSE_CODES, GatewayError, GW_ERROR_CODES, GW_ERRORS } from '../../src/protocol/errors.js';
import {
  AUDIO_ENCODINGS, DENOISE_MODES, LATENCY_CHUNK_MS, PROTOCOL_LIMITS as L, SESSION_DEFAULTS as D,
} from '../../src/protocol/messages.js';
import { normaliseSessionStart, sessionConfigToStart } from '../../src/protocol/session-config.js';
import { parseClientMessage } from '../../src/protocol/validate.js';
import {
  DEFAULT_GATEWAY_CONFIG, DEFAULT_SESSION_LIMITS, defaultModelDir, GATEWAY_SETTINGS, gatewayConfigFromSources, packageRoot,
  resolveGatewayConfig, type GatewayConfig,
} from '../../src/server/config.js';
import { startGateway } from '../../src/server/gateway.js';
import { acceptSessionUpdate, sessionStartedMessage } from '../../src/server/session-start.js';
import { SessionStatsCounter } from '../../src/server/session-stats.js';
import { DEFAULT_PIPELINE_DEPS } from '../../src/stream/session-pipeline.js';
import { scriptedServices } from '../server/helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const architecture = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');

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

/** Cells of a markdown table row (`\\|` inside a cell is not a separator). */
function cells(line: string): string[] {
  return line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
}

/** Body rows (header and separator left out) of the first table after `marker` in `text`. */
function tableAfter(text: string, marker: string): string[][] {
  expect(text, marker).toContain(marker);
  const lines = text.split(marker)[1]!.split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (let i = first + 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(cells(lines[i]!));
  return rows;
}

/** The backticked words of a cell. */
const ticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** The GW_ERR_BAD_CONFIG message `flags` get, or null when they are valid. */
function configError(flags: Record<string, string>): string | null {
  try {
    gatewayConfigFromSources(flags, {});
    return null;
  } catch (e) {
    expect(e).toMatchObject({ code: 'GW_ERR_BAD_CONFIG' });
    return (e as Error).message;
  }
}

/** Every metric voxgate registers (README "Endpoints" and docs/protocol.md section 10): `name{labels}` -> type. */
async function gatewayMetrics(): Promise<Map<string, string>> {
  const gw = await startGateway(resolveGatewayConfig({ host: '127.0.0.1', port: 0, transport: 'ws', logLevel: 'silent' }),
    { services: scriptedServices() });
  try {
    const metrics = gw.metrics.registry.getMetricsAsArray() as unknown as { name: string; type: string; labelNames: string[] }[];
    return new Map(metrics.filter((m) => m.name.startsWith('voxgate_')).map((m) =>
      [m.labelNames.length === 0 ? m.name : `${m.name}{${m.labelNames.join(',')}}`, m.type]));
  } finally {
    await gw.close();
  }
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

  it('has exactly the close codes the server uses in its close-code table', () => {
    const documented = tableAfter(doc, '\nClose codes:\n').map(([code]) => Number(code)).sort();
    // 1007 is the ws carrier's own answer to a text frame that is not UTF-8 (section 1), not one of CLOSE_CODES
    expect(documented).toEqual([...new Set([...Object.values(CLOSE_CODES), 1007])].sort());
  });

  it('gives session.started the limits the server sends, and its example is what the server answers', () => {
    const section11 = doc.split('## 11. Example')[1]!;
    const start = parseClientMessage(/^> (\{"type":"session\.start".*)$/m.exec(section11)![1]!);
    const example = JSON.parse(/^< (\{"type":"session\.started".*)$/m.exec(section11)![1]!) as { session_id: string };
    const config = normaliseSessionStart(start as Parameters<typeof normaliseSessionStart>[0]);
    const sent = sessionStartedMessage(example.session_id, config, { modelName: path.basename(defaultModelDir()),
      language: 'en', createPipeline: () => { throw new Error('unused'); } }, DEFAULT_SESSION_LIMITS);
    expect(example).toEqual(sent);
    const limits = row(section('### `session.started`'), '`limits`')[2]!;
    expect(ticked(limits).filter((k) => k !== 'limits').sort()).toEqual(Object.keys(sent.limits).sort());
  });

  it('lists every metric with its labels and type', async () => {
    const metrics = await gatewayMetrics();
    const documented = new Map<string, string>();
    for (const [names, type] of tableAfter(doc, 'Metrics (names are stable; labels as shown):')) {
      for (const name of ticked(names!)) documented.set(name, type!);
    }
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(metrics));
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
    expect(ticked(cells('audio.encoding').range)).toEqual(AUDIO_ENCODINGS);
    expect(cells('audio.sample_rate_hz').range).toBe(`${L.minSampleRateHz}..${L.maxSampleRateHz}`);
    expect(cells('audio.channels').range).toMatch(/^1 or 2 /);
    expect(ticked(cells('denoise').range)).toEqual(DENOISE_MODES);
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
    expect(cells('hotwords[].phrase').range).toContain(`1..${L.maxHotwordChars} UTF-16 code units`);
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
    expect(cells('tag').range).toMatch(new RegExp(`^1\\.\\.${L.maxSessionTagChars} UTF-16 code units`));
    expect(cells('language').range).toContain(`at most ${L.maxTagChars} characters`);
    expect(cells('model').range).toContain(`at most ${L.maxTagChars} characters`);
    expect(row(section('### `ping`'), '`id`')[2]).toBe(`string at most ${L.maxPingIdChars} characters`);
    // every field the validator accepts has a row
    for (const f of acceptedFields('session.start')) expect(t, f).toMatch(new RegExp(`^\\| \`${f}[.\`\\[]`, 'm'));
  });

  it('quotes a validation error as the validator words it', () => {
    const quoted = /quotes the bad value, e\.g\. `([^`]+)`/.exec(section('## 3. Client -> server messages'))![1]!;
    const field = /^session\.start: ([a-z_]+) must be .*, got (.+)$/.exec(quoted)!;
    let message = '';
    try {
      parseClientMessage(JSON.stringify({ type: 'session.start', audio: { encoding: 'pcm_s16le', sample_rate_hz: 16000,
        channels: 1 }, [field[1]!]: JSON.parse(field[2]!) as unknown }));
    } catch (e) {
      message = (e as GatewayError).message;
    }
    expect(message).toBe(quoted);
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

describe('README.md', () => {
  const settings = tableAfter(readme, '## Configuration (`voxgate serve`)');

  it('documents every serve flag with its environment variable, and no other', () => {
    const documented = settings.flatMap(([flags, envs]) => {
      const f = ticked(flags!);
      const e = ticked(envs!);
      expect(e.length, flags).toBe(f.length);
      return f.map((flag, i) => [flag, e[i]]);
    });
    expect(documented.sort()).toEqual(GATEWAY_SETTINGS.map((s) => [`--${s.flag}`, s.env]).sort());
  });

  it('gives each flag the default the code has', () => {
    const defaults: Partial<Record<keyof GatewayConfig, unknown>> = DEFAULT_GATEWAY_CONFIG;
    /** Settings whose default is left to the component that uses them (undefined in the config). */
    const componentDefaults: Partial<Record<keyof GatewayConfig, number>> = {
      intraOpThreads: DEFAULT_ENCODER_POOL_OPTIONS.intraOpThreads, maxBatch: DEFAULT_ENCODER_POOL_OPTIONS.maxBatch,
      beamSize: DEFAULT_PIPELINE_DEPS.beamSize,
    };
    for (const s of GATEWAY_SETTINGS) {
      const cell = settings.find(([flags]) => ticked(flags!).includes(`--${s.flag}`))![2]!;
      const plain = cell.replace(/`/g, '');
      const d = defaults[s.key];
      if (s.key === 'modelDir') expect(plain).toBe(`${path.relative(packageRoot(), defaultModelDir())} under the package root`);
      else if (s.key === 'encoderWorkers') {
        expect(plain).toMatch(/\(1 on a 1-core machine\)$/);
        if (availableParallelism() > 1) expect(plain).toMatch(new RegExp(`^${String(d)} `));
      } else if (d === undefined) expect(plain, s.flag).toMatch(new RegExp(`\\(${componentDefaults[s.key]}\\)$`));
      else if (d === null) expect(plain, s.flag).toBe('none');
      else expect(plain, s.flag).toBe(String(d));
    }
  });

  it('gives each flag the range or the values the validation takes', () => {
    for (const s of GATEWAY_SETTINGS) {
      const cell = settings.find(([flags]) => ticked(flags!).includes(`--${s.flag}`))![3]!;
      if (s.kind === 'int' || s.kind === 'number') {
        const range = /in \[(-?[\d.]+), (-?[\d.]+)\]/.exec(configError({ [s.flag]: '1000000000000' }) ?? '');
        expect(range, s.flag).not.toBeNull();
        expect(cell.split(/[ ,]/)[0], s.flag).toBe(`${range![1]}..${range![2]}`);
      } else {
        const values = /one of ([^,]+), got/.exec(configError({ [s.flag]: 'zz-no-such-value' }) ?? '');
        if (values === null) expect(cell, s.flag).not.toContain('`');
        else expect(ticked(cell).sort(), s.flag).toEqual(values[1]!.split('|').sort());
      }
    }
  });

  it('gives transcribe and eval the options their --help lists', () => {
    const commands = tableAfter(readme, '## CLI reference');
    for (const [command, help] of [['transcribe', TRANSCRIBE_HELP], ['eval', EVAL_HELP]] as const) {
      const usage = commands.find(([c]) => c!.startsWith(`\`voxgate ${command} `))![0]!;
      const documented = new Set(usage.match(/--[a-z-]+/g));
      const options = new Set(help.match(/^ {2}--[a-z-]+/gm)!.map((o) => o.trim()));
      options.delete('--help');
      expect([...documented].sort(), command).toEqual([...options].sort());
    }
  });

  it('lists every metric /metrics serves', async () => {
    const line = readme.split('\n').find((l) => l.startsWith('| `GET /metrics` |'))!;
    const documented = ticked(cells(line)[1]!).filter((m) => m.startsWith('voxgate_'));
    expect(documented.sort()).toEqual([...(await gatewayMetrics()).keys()].sort());
  });
});

// docs/architecture.md's file list and layering: test/protocol/architecture.test.ts
describe('the docs', () => {
  it('name only files that exist', () => {
    for (const [name, text] of [['README.md', readme], ['docs/protocol.md', doc], ['docs/architecture.md', architecture]]) {
      const paths = [...text!.matchAll(/[\w./-]+\/[\w.-]+\.(?:ts|cjs|cc|h|sh|md|py|tsv|wav)\b/g)].map((m) => m[0])
        .filter((p) => !p.startsWith('../') && !p.includes('...'));
      expect(paths.length).toBeGreaterThan(0);
      for (const p of paths) {
        expect(existsSync(path.join(ROOT, p)) || existsSync(path.join(ROOT, 'src', p)), `${name}: ${p}`).toBe(true);
      }
    }
  });
});
