/**
 * Ctrl-C (SIGINT) and SIGTERM in `voxgate eval`: the binary via tsx as a real child process against a real gateway on
 * port 0, interrupted while a long file streams; and evaluate() in-process on the real model, stopped as a file
 * starts. An interrupted run reports the files done before the signal, writes no --out / --json, and exits 130 / 143.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, parseManifest, runEval } from '../../src/cli/eval-command.js';
import { loadInProcessEngine } from '../../src/cli/transcribe-command.js';
import { encodeWav } from '../../src/cli/wav.js';
import type { Gateway } from '../../src/server/gateway.js';
import {
  CLI, longestFixture, MODEL_DIR, repeatPcm, ROOT, speechFixtures, startRealGateway,
} from '../integration/helpers.js';
import { tcpRelay, type TcpRelay } from '../integration/tcp-relay.js';

/** Far longer than any test waits: the run is interrupted inside it. */
const LONG_MS = 300_000;

let gw: Gateway;
/** The second-SIGINT case's own: the session it leaves behind decodes a backlog, which must not load `gw`. */
let heldGw: Gateway;
let dir: string;
const short = (i: number): string => {
  const f = speechFixtures()[i % speechFixtures().length]!;
  return `${f.set}\t${f.file}\t${f.reference}`;
};
const LONG_LINE = 'long\tlong.wav\tnot scored';

beforeAll(async () => {
  const { wav } = longestFixture();
  const pcm = repeatPcm(wav, LONG_MS);
  const samples = Float32Array.from({ length: pcm.byteLength / 2 },
    (_, i) => new DataView(pcm.buffer, pcm.byteOffset).getInt16(2 * i, true) / 32768);
  dir = mkdtempSync(path.join(tmpdir(), 'voxgate-eval-interrupt-'));
  writeFileSync(path.join(dir, 'long.wav'), encodeWav(samples, wav.sampleRateHz));
  [gw, heldGw] = await Promise.all([startRealGateway('ws'), startRealGateway('ws')]);
}, 60_000);
afterAll(async () => {
  await Promise.all([gw?.close(), heldGw?.close()]);
});

/** A manifest of `lines` in a fresh directory beside long.wav's. */
function manifestOf(lines: string[]): { out: string; manifest: string } {
  const out = mkdtempSync(path.join(dir, 'run-'));
  const manifest = path.join(out, 'MANIFEST.tsv');
  writeFileSync(manifest, lines.map((l) => `${l.replace('\tlong.wav\t', `\t${path.join(dir, 'long.wav')}\t`)}\n`).join(''));
  return { out, manifest };
}

function evalProcess(args: string[]) {
  const child = spawn(process.execPath, [...CLI, 'eval', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/**
 * A TCP relay to the gateway whose client-to-gateway direction `hold()` stops: what the client sends from then on
 * (session.end among it) stays in the relay, so the gateway cannot end the session, however fast it would.
 */
async function holdingRelay(gatewayPort: number): Promise<TcpRelay & { hold: () => void }> {
  const clients = new Set<Socket>();
  const relay = await tcpRelay(gatewayPort, (client, upstream) => {
    clients.add(client);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return {
    ...relay,
    hold: () => {
      for (const c of clients) {
        c.unpipe();
        c.pause();
      }
    },
  };
}

async function sessions(g: Gateway): Promise<{ active: number; ended: Record<string, number> }> {
  const active = (await g.metrics.sessionsActive.get()).values[0]?.value ?? 0;
  const { values } = await g.metrics.sessionsTotal.get();
  return { active, ended: Object.fromEntries(values.map((v) => [String(v.labels.reason), v.value])) };
}
const total = (ended: Record<string, number>): number => Object.values(ended).reduce((a, b) => a + b, 0);

describe('voxgate eval interrupted', () => {
  it('SIGINT while a file streams: that file ends cleanly and is left out, the files done are reported as '
    + 'interrupted, --out / --json are not written, exit 130', async () => {
    const lines = [short(0), short(1), short(2), LONG_LINE, short(3), short(0)];
    const { out, manifest } = manifestOf(lines);
    const hyps = path.join(out, 'hyps.tsv');
    writeFileSync(hyps, 'an earlier run\n');
    const before = await sessions(gw);
    const run = evalProcess([manifest, '--url', `ws://127.0.0.1:${gw.port}/v1/stream`, '--concurrency', '1',
      '--out', hyps, '--json', path.join(out, 'wer.json')]);
    try {
      // three short files done, the long one streaming
      await expect.poll(async () => {
        const now = await sessions(gw);
        return [total(now.ended) - total(before.ended), now.active];
      }, { timeout: 60_000, interval: 50 }).toEqual([3, 1]);
      run.child.kill('SIGINT');
      expect(await run.exited, run.stderr()).toEqual({ code: 130, signal: null });
      expect(run.stdout()).toMatch(/^interrupted by SIGINT: 3 of 6 files done, the WER is of those only\n/);
      expect(run.stdout()).toMatch(/^overall\s+3\s/m);
      expect(run.stdout()).not.toMatch(/^long\s/m);
      expect(run.stderr()).toContain('SIGINT');
      expect(run.stderr()).toContain('--out and --json not written');
      expect(readFileSync(hyps, 'utf8')).toBe('an earlier run\n');
      expect(readdirSync(out).sort()).toEqual(['MANIFEST.tsv', 'hyps.tsv']);
      // the long file's session ended cleanly (not abandoned), and no file started after it
      await expect.poll(async () => (await sessions(gw)).active, { timeout: 10_000 }).toBe(0);
      const after = await sessions(gw);
      expect((after.ended.client_end ?? 0) - (before.ended.client_end ?? 0)).toBe(4);
      expect(total(after.ended) - total(before.ended)).toBe(4);
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 120_000);

  it('SIGTERM before any file is done: nothing to score, exit 143; every open session ends cleanly', async () => {
    const { manifest } = manifestOf([LONG_LINE, LONG_LINE, short(0)]);
    const before = await sessions(gw);
    const run = evalProcess([manifest, '--url', `ws://127.0.0.1:${gw.port}/v1/stream`, '--concurrency', '2']);
    try {
      await expect.poll(async () => (await sessions(gw)).active, { timeout: 60_000, interval: 50 }).toBe(2);
      run.child.kill('SIGTERM');
      expect(await run.exited, run.stderr()).toEqual({ code: 143, signal: null });
      expect(run.stdout()).toBe('interrupted by SIGTERM: 0 of 3 files done\n');
      await expect.poll(async () => (await sessions(gw)).active, { timeout: 10_000 }).toBe(0);
      const after = await sessions(gw);
      expect((after.ended.client_end ?? 0) - (before.ended.client_end ?? 0)).toBe(2);
      expect(total(after.ended) - total(before.ended)).toBe(2);
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 120_000);

  it('SIGTERM while the manifest is still being read (`eval <(...)`, a pipe that waits on its writer) stops as '
    + 'later: the summary, no --out, exit 143; in-process no model is loaded for nothing', async () => {
    // in-process with a model that is not there: the run fails if it loads one
    for (const target of [['--url', `ws://127.0.0.1:${gw.port}/v1/stream`], ['--model', path.join(dir, 'no-model')]]) {
      const out = mkdtempSync(path.join(dir, 'fifo-'));
      const manifest = path.join(out, 'MANIFEST.tsv');
      execFileSync('mkfifo', [manifest]);
      const run = evalProcess([manifest, ...target, '--out', path.join(out, 'h.tsv')]);
      let exited = false;
      void run.exited.then(() => { exited = true; });
      try {
        // the writing end opens once eval has opened the reading end: it is reading the manifest
        const writer = await open(manifest, 'w');
        try {
          run.child.kill('SIGTERM');
          // handled (its notice), or the process ended by it: only then the manifest, which a dead reader cannot take
          await new Promise<void>((resolve) => {
            const timer = setInterval(() => {
              if (!exited && !run.stderr().includes('SIGTERM: stopping')) return;
              clearInterval(timer);
              resolve();
            }, 20);
          });
          await writer.write(`${short(0)}\n`).catch(() => undefined);
        } finally {
          await writer.close();
        }
        expect(await run.exited, run.stderr()).toEqual({ code: 143, signal: null });
        expect(run.stdout()).toBe('interrupted by SIGTERM: 0 of 1 files done\n');
        expect(readdirSync(out)).toEqual(['MANIFEST.tsv']);
      } finally {
        run.child.kill('SIGKILL');
      }
    }
  }, 120_000);

  it('a second SIGINT exits 130 at once, without waiting for the open session to end', async () => {
    const { manifest } = manifestOf([LONG_LINE]);
    const relay = await holdingRelay(heldGw.port);
    const run = evalProcess([manifest, '--url', relay.url]);
    try {
      await expect.poll(async () => (await sessions(heldGw)).active, { timeout: 60_000, interval: 50 }).toBe(1);
      // the first signal's clean end cannot finish: the gateway never gets the session.end (a fast decode of the
      // backlog ended the session before the second signal came, and the run exited as after one)
      relay.hold();
      run.child.kill('SIGINT');
      // not back to back: the kernel merges a signal into one still pending, and the child would see only one
      await expect.poll(() => run.stderr(), { timeout: 10_000 }).toContain('SIGINT: stopping');
      run.child.kill('SIGINT');
      expect(await run.exited, run.stderr()).toEqual({ code: 130, signal: null });
      expect(run.stdout()).toBe('');
    } finally {
      run.child.kill('SIGKILL');
      relay.close();
    }
  }, 120_000);

  it('evaluate() in-process stopped as the third file starts: the two done are scored, the third is not', async () => {
    const { manifest } = manifestOf([short(0), short(1), LONG_LINE, short(2)]);
    const entries = parseManifest(readFileSync(manifest, 'utf8'), manifest);
    const engine = await loadInProcessEngine({ model: MODEL_DIR });
    try {
      const stop = new AbortController();
      let pipelines = 0;
      let longFrames = 0;
      const services = { modelName: engine.modelName, language: engine.language,
        createPipeline: (config: Parameters<typeof engine.createPipeline>[0]) => {
          const pipeline = engine.createPipeline(config);
          if (++pipelines !== 3) return pipeline;
          // stopped 2 s (40 frames) into the long file
          const pushAudio = (bytes: Uint8Array, arrivalMs: number): void => {
            if (++longFrames === 40) stop.abort();
            pipeline.pushAudio(bytes, arrivalMs);
          };
          return new Proxy(pipeline, { get: (target, key) => {
            if (key === 'pushAudio') return pushAudio;
            const v: unknown = Reflect.get(target, key);
            return typeof v === 'function' ? v.bind(target) : v; // private fields need the real `this`
          } });
        } };
      const result = await evaluate(entries, { services }, { concurrency: 1, extras: {}, signal: stop.signal });
      expect(result.interrupted).toEqual({ done: 2, files: 4 });
      expect(result.hypotheses.map((h) => h.path)).toEqual(entries.slice(0, 2).map((e) => e.path));
      expect(result.overall.files).toBe(2);
      expect([...result.perSet.keys()]).not.toContain('long');
      expect([pipelines, longFrames]).toEqual([3, 40]); // the long file's session sent no frame after the stop
    } finally {
      await engine.close();
    }
  }, 120_000);

  it('runEval removes its signal handlers when it returns', async () => {
    const counts = (): number[] => ['SIGINT', 'SIGTERM'].map((s) => process.listenerCount(s));
    const before = counts();
    const { manifest } = manifestOf([short(0)]);
    expect(await runEval(manifest, { url: `ws://127.0.0.1:${gw.port}/v1/stream` })).toBe(0);
    expect(counts()).toEqual(before);
  }, 60_000);
});
