/**
 * A strict reader of the Prometheus text exposition format 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), for tests that hold /metrics to
 * it: `# HELP` / `# TYPE` at most once per family and before its samples, a family's samples together, metric and
 * label names as the format allows, label values with only `\\`, `\"` and `\n` escapes, no series twice, counters
 * not negative, and per histogram series cumulative buckets ending at `le="+Inf"`, which equals `_count`.
 * Throws on the first violation, naming the line.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

/** A value as Go's strconv.ParseFloat reads it, which is what the format specifies (so `Nan` and `inf` pass too). */
function parseValue(s: string, where: string): number {
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) throw new Error(`${where}: bad value "${s}"`);
  return Number(s);
}

/** `{a="x",b="y"}` from `text` at `i` (just past the name); returns the labels and the index past `}`. */
function parseLabels(text: string, start: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (text[i] === '}') return { labels, end: i + 1 };
    const name = LABEL_NAME.exec(text.slice(i))?.[0];
    if (name === undefined) throw new Error(`${where}: bad label name at column ${i}`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    i += name.length;
    if (text[i] !== '=' || text[i + 1] !== '"') throw new Error(`${where}: expected =" after ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i + 1];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else throw new Error(`${where}: bad escape \\${e ?? ''} in label ${name}`);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    labels[name] = value;
    i++;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`${where}: expected , or } after label ${name}`);
  }
}

/** The family a sample name belongs to, given its declared type (histogram samples carry suffixes). */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sample);
  if (direct !== undefined && direct.type !== 'histogram') return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f !== undefined && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return direct;
}

const seriesKey = (name: string, labels: Record<string, string>): string =>
  `${name}${JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)))}`;

function checkHistogram(f: Family): void {
  const series = new Map<string, { buckets: { le: number; v: number }[]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = seriesKey('', rest);
    if (!series.has(key)) series.set(key, { buckets: [] });
    const entry = series.get(key)!;
    if (s.name.endsWith('_bucket')) {
      if (le === undefined) throw new Error(`${f.name}: a bucket without le`);
      entry.buckets.push({ le: parseValue(le, `${f.name} le`), v: s.value });
    } else if (le !== undefined) {
      throw new Error(`${s.name}: le on a non-bucket sample`);
    } else if (s.name.endsWith('_count')) entry.count = s.value;
    else entry.sum = s.value;
  }
  for (const [key, { buckets, count, sum }] of series) {
    const where = `${f.name}${key}`;
    if (count === undefined || sum === undefined) throw new Error(`${where}: _count or _sum missing`);
    if (buckets.length === 0 || buckets[buckets.length - 1]!.le !== Infinity) throw new Error(`${where}: no le="+Inf" last`);
    for (let k = 1; k < buckets.length; k++) {
      if (!(buckets[k]!.le > buckets[k - 1]!.le)) throw new Error(`${where}: le not increasing`);
      if (buckets[k]!.v < buckets[k - 1]!.v) throw new Error(`${where}: buckets not cumulative at le=${buckets[k]!.le}`);
    }
    if (buckets[buckets.length - 1]!.v !== count) throw new Error(`${where}: +Inf bucket ${buckets[buckets.length - 1]!.v} != _count ${count}`);
  }
}

/** Parses (and checks) a whole exposition; families by name. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('exposition does not end in a newline');
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const typed = new Set<string>();
  const closed = new Set<string>(); // families whose samples ended (another family's began)
  let current: Family | null = null;
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, n) => {
    const where = `line ${n + 1} "${line.slice(0, 80)}"`;
    if (line.trim() === '') return;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest = ''] = meta;
      if (METRIC_NAME.exec(name!)?.[0] !== name) throw new Error(`${where}: bad metric name`);
      if (closed.has(name!)) throw new Error(`${where}: ${kind} after the family's samples ended`);
      let f = families.get(name!);
      if (f === undefined) {
        f = { name: name!, type: 'untyped', help: null, samples: [] };
        families.set(name!, f);
      }
      if (f.samples.length > 0) throw new Error(`${where}: ${kind} after samples`);
      if (kind === 'HELP') {
        if (f.help !== null) throw new Error(`${where}: HELP twice`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP`);
        f.help = rest;
      } else {
        if (typed.has(f.name)) throw new Error(`${where}: TYPE twice`);
        if (!TYPES.includes(rest as MetricType)) throw new Error(`${where}: unknown type "${rest}"`);
        f.type = rest as MetricType;
        typed.add(f.name);
      }
      if (current !== null && current !== f) closed.add(current.name);
      current = f;
      return;
    }
    if (line.startsWith('#')) return; // a comment
    const name = METRIC_NAME.exec(line)?.[0];
    if (name === undefined) throw new Error(`${where}: no metric name`);
    let labels: Record<string, string> = {};
    let i = name.length;
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i, where));
    if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`);
    const [valueText, timestamp, extra] = line.slice(i + 1).split(' ');
    if (extra !== undefined || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) throw new Error(`${where}: trailing text`);
    const value = parseValue(valueText ?? '', where);
    let f = familyOf(name, families);
    if (f === undefined) {
      f = { name, type: 'untyped', help: null, samples: [] };
      families.set(name, f);
    }
    if (closed.has(f.name)) throw new Error(`${where}: samples of ${f.name} are not together`);
    if (current !== null && current !== f) closed.add(current.name);
    current = f;
    const key = seriesKey(name, labels);
    if (seen.has(key)) throw new Error(`${where}: series twice`);
    seen.add(key);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter ${value}`);
    if (f.type === 'histogram' && name === f.name) throw new Error(`${where}: histogram sample without a suffix`);
    f.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

/** The value of one series (0 when absent: a counter or labelled gauge not yet touched). */
export function valueOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = familyOf(name, families);
  const key = seriesKey(name, labels);
  return f?.samples.find((s) => seriesKey(s.name, s.labels) === key)?.value ?? 0;
}

/** The sum of every series of a sample name, whatever its labels (e.g. `voxgate_errors_total` over all codes). */
export function sumOf(families: Map<string, Family>, name: string): number {
  return familyOf(name, families)?.samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0) ?? 0;
}
