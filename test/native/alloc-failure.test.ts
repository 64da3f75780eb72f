/**
 * Out of memory inside the native addon: every entry point, every allocation of its own code in turn made to fail
 * (native/fuzz/alloc-fault.cc, preloaded into a child process; the sweep is alloc-failure-child.ts). A C++ exception
 * that leaves an N-API callback is std::terminate, the whole gateway and all its sessions gone; so each failure must
 * come back as an error with the entry point's code, and leave an object that goes on as if the call had not been
 * made (a failed setHotwords keeps the old list, not a half-built one) or that refuses clearly until reset().
 *
 * The shim is compiled here with the C++ compiler that built the addon (g++ unless CXX says otherwise) against the
 * N-API headers of the Node it was built for (build/config.gypi nodedir). Under `npm run test:sanitize` the shim
 * goes before the sanitizer runtimes in LD_PRELOAD (their link-order check off), so that its operator new is the one
 * found, and hands every allocation it does not fail to theirs.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { REPO } from '../inference/helpers.js';

const work = mkdtempSync(join(tmpdir(), 'voxgate-alloc-fault-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function buildShim(): string {
  const config = readFileSync(join(REPO, 'build/config.gypi'), 'utf8');
  const nodedir = /"nodedir":\s*"([^"]+)"/.exec(config)?.[1];
  if (nodedir === undefined) throw new Error('build/config.gypi names no nodedir: build the addon first (npm run install)');
  const out = join(work, 'alloc-fault.node');
  execFileSync(process.env['CXX'] ?? 'g++', ['-std=c++17', '-O1', '-shared', '-fPIC', `-I${join(nodedir, 'include/node')}`,
    join(REPO, 'native/fuzz/alloc-fault.cc'), '-o', out, '-ldl']);
  return out;
}

interface Report { call: string; faults: number; problems: string[] }
interface ChildResult {
  code: number | null; signal: string | null; stderrTail: string[]; reports: Report[];
  /** The call being swept when the child ended. */
  lastStarted: string | undefined;
}

function runChild(shim: string): Promise<ChildResult> {
  const preload = process.env['LD_PRELOAD'];
  const env = {
    ...process.env,
    VOXGATE_ALLOC_FAULT: shim,
    LD_PRELOAD: preload ? `${shim}:${preload}` : shim,
    ...(preload ? { ASAN_OPTIONS: `${process.env['ASAN_OPTIONS'] ?? ''}:verify_asan_link_order=0` } : {}),
  };
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(REPO, 'test/native/alloc-failure-child.ts')],
      { cwd: REPO, env, timeout: 50_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Report | { start: string });
        resolve({
          code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), signal: err?.signal ?? null,
          // an abort prints "terminate called after throwing an instance of 'std::bad_alloc'"
          stderrTail: stderr.trim().split('\n').slice(-4),
          reports: lines.filter((l): l is Report => 'call' in l),
          lastStarted: lines.filter((l): l is { start: string } => 'start' in l).at(-1)?.start,
        });
      });
  });
}

describe('native addon out of memory', () => {
  it('every failed allocation is a coded error, and the object goes on unharmed or refuses until reset()', async () => {
    const r = await runChild(buildShim());
    expect(r, `${r.stderrTail.join('\n')}\nwhile sweeping ${String(r.lastStarted)}`).toMatchObject({ code: 0, signal: null });
    const calls = r.reports.map((x) => x.call);
    expect(calls).toEqual(['new CtcDecoder (with a new TokenLm)', 'setHotwords', 'decodeChunk',
      'decodeChunk after setHotwords', 'current',
      'finalAlternatives', 'finalize', 'reset', 'new FbankExtractor', 'FbankExtractor.push', 'FbankExtractor.flush',
      'new Resampler', 'Resampler.push', 'Resampler.flush']);
    for (const x of r.reports) {
      expect(x.problems, x.call).toEqual([]);
      // reset() allocates nothing; every other call reached at least one of its allocations
      if (x.call !== 'reset') expect(x.faults, x.call).toBeGreaterThan(0);
    }
  }, 60_000);
});
