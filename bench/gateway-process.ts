/**
 * The gateway under load, either a child process the benchmark starts (`voxgate serve --port 0`, so the client's
 * own load does not distort the server's numbers) or an external server given by URL. Exposes what the report
 * needs from the server side: CPU time and RSS (from /proc for a child; from prom-client's process_* metrics for a
 * URL) and the event-loop delay from GET /metrics (`voxgate_event_loop_delay_seconds{stat}`, reset on each scrape).
 *
 * Port discovery: the child's stdout/stderr lines are scanned for the first JSON object with a numeric `port`
 * field (the pino "listening" line), or failing that for text like `listening on http://host:PORT`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface GatewayProcessOptions {
  /** Repository root (where package.json is). */
  root: string;
  /** uws | ws */
  transport: string;
  maxSessions: number;
  /** Extra arguments after `serve`, e.g. ['--model', 'models/x']. */
  extraArgs: readonly string[];
  /** Run src/cli/main.ts through tsx instead of dist/src/cli/main.js. */
  fromSource: boolean;
  /** How long to wait for the port line and /readyz 200, ms. */
  startTimeoutMs: number;
}

export interface ServerSample {
  /** Process CPU time (user + system), ms; NaN if unknown. */
  cpuMs: number;
  /** Resident set size, bytes; NaN if unknown. */
  rssBytes: number;
}

export interface LoopDelay { p99Ms: number; maxMs: number }

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat utime and stime are in these ticks

function procSample(pid: number): ServerSample {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    const cpuMs = ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return { cpuMs, rssBytes: kb ? Number(kb[1]) * 1024 : Number.NaN };
  } catch {
    return { cpuMs: Number.NaN, rssBytes: Number.NaN };
  }
}

/** The value of one sample line `name{labels} value` in Prometheus text, or NaN. */
export function metricValue(text: string, name: string, labels = ''): number {
  const head = labels === '' ? `${name} ` : `${name}{${labels}} `;
  const line = text.split('\n').find((l) => l.startsWith(head));
  return line === undefined ? Number.NaN : Number(line.slice(head.length).trim().split(' ')[0]);
}

/** Cumulative bucket counts `le -> count` of a Prometheus histogram (`le` as a number, +Inf as Infinity). */
export function histogramBuckets(text: string, name: string): Map<number, number> {
  const out = new Map<number, number>();
  const re = new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"\\} (\\S+)`, 'gm');
  for (const m of text.matchAll(re)) out.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]));
  return out;
}

/**
 * Upper bucket bound holding quantile `q` of the observations made between two scrapes (`before`, `after`), or
 * NaN when none were made.
 */
export function histogramQuantileBetween(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (total <= 0) return Number.NaN;
  for (const le of les) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= q * total) return le;
  return Infinity;
}

export class GatewayProcess {
  /** ws://host:port (no path). */
  readonly baseUrl: string;
  readonly httpUrl: string;
  private readonly child: ChildProcess | null;
  private readonly tail: string[];

  private constructor(baseUrl: string, child: ChildProcess | null, tail: string[]) {
    this.baseUrl = baseUrl.replace(/\/v1\/stream\/?$/, '').replace(/\/$/, '');
    this.httpUrl = this.baseUrl.replace(/^ws/, 'http');
    this.child = child;
    this.tail = tail;
  }

  /** An external server: nothing is started or stopped. */
  static external(url: string): GatewayProcess {
    return new GatewayProcess(url, null, []);
  }

  /** Starts `voxgate serve --port 0` in a child process and waits until /readyz answers 200. */
  static async start(o: GatewayProcessOptions): Promise<GatewayProcess> {
    const entry = o.fromSource ? join(o.root, 'src/cli/main.ts') : join(o.root, 'dist/src/cli/main.js');
    if (!existsSync(entry)) throw new Error(`${entry} not found${o.fromSource ? '' : ' (run `npm run build`)'}`);
    const args = [...(o.fromSource ? ['--import', 'tsx'] : []), entry, 'serve', '--port', '0', '--host', '127.0.0.1',
      '--transport', o.transport, '--max-sessions', String(o.maxSessions), '--log-level', 'info', ...o.extraArgs];
    const child = spawn(process.execPath, args, {
      cwd: o.root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env,
    });
    const tail: string[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no port line within ${o.startTimeoutMs} ms`)), o.startTimeoutMs);
      const onLine = (line: string): void => {
        tail.push(line);
        if (tail.length > 40) tail.shift();
        const p = parsePort(line);
        if (p !== null) {
          clearTimeout(timer);
          resolve(p);
        }
      };
      for (const s of [child.stdout!, child.stderr!]) createInterface({ input: s }).on('line', onLine);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`server exited (${code ?? signal}) before listening`));
      });
    }).catch((e: Error) => {
      child.kill('SIGKILL');
      throw new Error(`${e.message}; last output:\n${tail.join('\n')}`);
    });
    const g = new GatewayProcess(`ws://127.0.0.1:${port}`, child, tail);
    await g.waitReady(o.startTimeoutMs);
    return g;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Last lines the child printed (for error reports). */
  get outputTail(): string {
    return this.tail.join('\n');
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      try {
        const res = await fetch(`${this.httpUrl}/readyz`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      const exit = this.child?.exitCode ?? this.child?.signalCode ?? null;
      if (performance.now() > until || exit !== null) {
        const why = exit !== null ? `server exited (${exit}) before it was ready`
          : `server not ready within ${timeoutMs} ms`;
        throw new Error(`${why}; last output:\n${this.outputTail}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** GET /metrics as text, or '' when unavailable. */
  async metrics(): Promise<string> {
    try {
      const res = await fetch(`${this.httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
      return res.ok ? await res.text() : '';
    } catch {
      return '';
    }
  }

  /** Event-loop delay since the previous scrape (the gateway resets the histogram per scrape). */
  async loopDelay(): Promise<LoopDelay & { metrics: string }> {
    const text = await this.metrics();
    const v = (stat: string): number => metricValue(text, 'voxgate_event_loop_delay_seconds', `stat="${stat}"`) * 1000;
    return { p99Ms: v('p99'), maxMs: v('max'), metrics: text };
  }

  /** CPU and RSS now: /proc for a child, else process_* metrics from a scrape (`metricsText`). */
  sample(metricsText?: string): ServerSample {
    if (this.child?.pid !== undefined && existsSync(`/proc/${this.child.pid}`)) return procSample(this.child.pid);
    const t = metricsText ?? '';
    const cpu = metricValue(t, 'process_cpu_seconds_total');
    return { cpuMs: cpu * 1000, rssBytes: metricValue(t, 'process_resident_memory_bytes') };
  }

  /** SIGTERM (the gateway drains), SIGKILL after `graceMs`. Resolves once the child has exited. */
  async stop(graceMs = 10000): Promise<void> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Port from a JSON log line with a numeric `port` field, or from `listening on ...:PORT` text; else null. */
export function parsePort(line: string): number | null {
  const t = line.trim();
  if (t.startsWith('{')) {
    try {
      const o = JSON.parse(t) as Record<string, unknown>;
      if (typeof o['port'] === 'number' && o['port'] > 0) return o['port'];
    } catch {
      // not JSON
    }
  }
  const m = /listening\b.*?:(\d{2,5})\b/i.exec(t);
  return m ? Number(m[1]) : null;
}
