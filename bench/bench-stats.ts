/** Small statistics, formatting and argument-checking helpers shared by the benchmarks. */

import { basename } from 'node:path';

/** Nearest-rank percentile (`p` in [0, 100]) of unsorted values; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Percentiles { p50: number; p95: number; p99: number }

export function percentiles(values: readonly number[]): Percentiles {
  return { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99) };
}

/** Best (smallest) wall time of `fn` over `runs` runs, in ms, after one warm-up run. */
export function bestMs(fn: () => void, runs: number): number {
  fn();
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** Rounds to `digits` decimals (NaN/Infinity become null so the value survives JSON). */
export function round(x: number, digits = 2): number | null {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Left-aligned first column, right-aligned others. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '))
    .join('\n');
}

/** Value of `--name VALUE` in argv, or undefined. */
export function argValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

/** What a benchmark flag's value must be: a finite number, a comma-separated list of them, or any text. */
export type BenchFlagKind = 'number' | 'numbers' | 'text';

/** A script's flags: name (without `--`) -> the kind of value it takes (every flag takes one). */
export type BenchFlags = Readonly<Record<string, BenchFlagKind>>;

const isNumber = (s: string): boolean => s.trim() !== '' && Number.isFinite(Number(s));

/**
 * Why `argv` does not fit `flags`, or undefined when it does. Refuses what argValue would misread without a word:
 * an unknown flag (a typo such as `--session` ran the default load), a flag without its value (argValue takes the
 * next flag as it, or nothing), a number that is not one, a flag given twice (argValue reads the first) and a bare
 * word. A value may start with one dash (`-1`), not two.
 */
export function benchArgsError(argv: readonly string[], flags: BenchFlags): string | undefined {
  const kinds = new Map(Object.entries(flags));
  const names = [...kinds.keys()].map((f) => `--${f}`);
  const knownText = names.length === 0 ? 'it takes no flags' : `known flags: ${names.join(', ')}`;
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) return `unexpected argument ${arg} (${knownText})`;
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = kinds.get(name);
    if (kind === undefined) return `unknown flag --${name} (${knownText})`;
    if (seen.has(name)) return `--${name} given twice`;
    seen.add(name);
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (eq < 0 && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('--')) value = argv[++i];
    if (value === undefined || value === '') return `--${name} needs a value`;
    if (kind === 'number' && !isNumber(value)) return `--${name} needs a number, got ${value}`;
    if (kind === 'numbers' && !value.split(',').every(isNumber)) {
      return `--${name} needs a comma-separated list of numbers, got ${value}`;
    }
  }
  return undefined;
}

/**
 * First call of every benchmark script's entry, before any work: `--help` prints the flags and exits 0; argv that
 * benchArgsError refuses prints one line naming the problem and exits 2 (the usual code for a usage error).
 */
export function checkBenchArgs(argv: readonly string[], flags: BenchFlags): void {
  const script = basename(process.argv[1] ?? 'bench').replace(/\.[cm]?[jt]s$/, '');
  if (argv.includes('--help')) {
    const placeholder = { number: 'N', numbers: 'N,N...', text: 'VALUE' } as const;
    const usage = Object.entries(flags).map(([name, kind]) => `[--${name} ${placeholder[kind]}]`);
    console.log(`usage: ${script} ${usage.join(' ')}`.trimEnd());
    process.exit(0);
  }
  const error = benchArgsError(argv, flags);
  if (error === undefined) return;
  console.error(`${script}: ${error}`);
  process.exit(2);
}
