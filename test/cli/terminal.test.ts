/**
 * `voxgate transcribe` on a terminal: the binary from its sources under a real pseudo-terminal (util-linux `script`),
 * in-process and against a real gateway on port 0, its output replayed on a terminal model (terminal-screen.ts) to
 * judge what a user sees: partials on one overwritten row, anything after them on a row of its own.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/cli/wav.js';
import type { Gateway } from '../../src/server/gateway.js';
import {
  CLI, loadWav, longestFixture, repeatPcm, speechFixtures, startRealGateway,
} from '../integration/helpers.js';
import { tcpRelay } from '../integration/tcp-relay.js';
import { TerminalScreen } from './terminal-screen.js';

const FINAL_LINE = /\[(?:ch\d )?\d+\.\d\d-\d+\.\d\d\] [^\r\n]*/g;
const REDRAW = '\r\x1b[2K';

let gw: Gateway;
let dir: string;
/** 30 s of speech: partials come all along. */
let longFile: string;
const pcmSamples = (pcm: Uint8Array): Float32Array => Float32Array.from({ length: pcm.byteLength / 2 },
  (_, i) => new DataView(pcm.buffer, pcm.byteOffset).getInt16(2 * i, true) / 32768);
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'voxgate-terminal-'));
  const { wav } = longestFixture();
  longFile = path.join(dir, 'long.wav');
  writeFileSync(longFile, encodeWav(pcmSamples(repeatPcm(wav, 30_000)), wav.sampleRateHz));
  gw = await startRealGateway('ws');
}, 60_000);
afterAll(async () => {
  await gw?.close();
});

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** `voxgate transcribe ...args` on a pseudo-terminal `columns` wide; what it shows, and its keyboard. */
function onTerminal(args: string[], columns: number) {
  const command = `stty cols ${columns} rows 50 && exec ${[process.execPath, ...CLI, 'transcribe', ...args].map(quote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: tmpdir(), stdio: ['pipe', 'pipe', 'ignore'] });
  const screen = new TerminalScreen(columns);
  let raw = '';
  let unread = ''; // an escape sequence split across reads waits for its end
  const waiters: (() => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
    unread += chunk;
    const esc = unread.lastIndexOf('\x1b');
    const upto = esc >= 0 && !/^\x1b\[[0-9;]*[A-Za-z]/.test(unread.slice(esc)) ? esc : unread.length;
    screen.write(unread.slice(0, upto));
    unread = unread.slice(upto);
    for (const w of waiters.splice(0)) w();
  });
  let done = false;
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    done = true;
    resolve(code);
  }));
  const until = async (what: string, found: () => boolean): Promise<void> => {
    while (!found()) {
      if (done) throw new Error(`exited without ${what}; screen:\n${screen.lines().join('\n')}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), exited]);
    }
  };
  return { child, screen, exited, until, raw: () => raw, type: (keys: string) => child.stdin.write(keys) };
}

/** The cursor's row just before each redraw of the partial line: what stood on it between two updates. */
function shownBetweenRedraws(raw: string, columns: number): string[] {
  const screen = new TerminalScreen(columns);
  return raw.split(REDRAW).map((piece, i) => {
    const before = screen.current();
    screen.write(i === 0 ? piece : REDRAW + piece);
    return before;
  });
}

/** `lines` as a terminal `columns` wide wraps them, each row's trailing blanks cut. */
function wrapped(lines: string[], columns: number): string[] {
  return lines.flatMap((l) => (l.match(new RegExp(`.{1,${columns}}`, 'gu')) ?? ['']).map((r) => r.trimEnd()));
}

/**
 * A TCP relay to the gateway. Armed by `stopAfterPartial`, it passes the gateway's bytes up to the first read that
 * ends in a whole transcript.partial, then cuts both connections (`cut`) or holds the gateway's bytes from then on
 * (`hold`; `stopAfterPartial` again passes what it holds, up to the next partial).
 */
async function relayTo(port: number) {
  /** The one connection: the client's socket and the relay's to the gateway. */
  let pair: [client: Socket, upstream: Socket] | null = null;
  let stop: 'cut' | 'hold' | null = null;
  let holding = false;
  const held: Buffer[] = [];
  const endsInPartial = (b: Buffer): boolean => {
    const s = b.toString('latin1');
    return s.endsWith('}') && s.lastIndexOf('"type":"') === s.lastIndexOf('"type":"transcript.partial"');
  };
  const pass = (): void => {
    while (!holding && held.length > 0) {
      const chunk = held.shift()!;
      pair![0].write(chunk);
      if (stop !== null && endsInPartial(chunk)) {
        if (stop === 'cut') for (const s of pair!) s.destroy();
        holding = true;
      }
    }
  };
  const relay = await tcpRelay(port, (client, upstream) => {
    pair = [client, upstream];
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      held.push(chunk);
      pass();
    });
  });
  return {
    ...relay,
    stopAfterPartial: (how: 'cut' | 'hold') => {
      stop = how;
      holding = false;
      if (pair !== null) pass();
    },
  };
}

describe('voxgate transcribe on a terminal', () => {
  it('the connection lost while a partial is shown: the error starts a row of its own, under the partial', async () => {
    const relay = await relayTo(gw.port);
    relay.stopAfterPartial('cut');
    const t = onTerminal([longFile, '--url', relay.url], 80);
    try {
      expect(await t.exited).toBe(1);
      const lines = t.screen.lines();
      // before: "… u nvoxgate: GW_ERR_INTERNAL: socket closed (1006 )" on one row
      expect(lines.slice(-3), t.raw()).toEqual([expect.stringMatching(/^… \S/),
        expect.stringMatching(/^voxgate: GW_ERR_[A-Z_]+: /), '']);
      expect(t.screen.cursorColumn()).toBe(0);
    } finally {
      t.child.kill('SIGKILL');
      relay.close();
    }
  }, 60_000);

  it('Ctrl-C twice, the second while a partial is shown: exit 130 on a clean row (the shell prompt is not glued to '
    + 'the partial)', async () => {
    const relay = await relayTo(gw.port);
    relay.stopAfterPartial('hold');
    const t = onTerminal([longFile, '--url', relay.url], 80);
    try {
      await t.until('a partial', () => t.screen.current().startsWith('… '));
      t.type('\x03');
      await t.until('the notice', () => t.screen.lines().some((l) => l.startsWith('voxgate: SIGINT: ending')));
      // the partial, the terminal's echo of Ctrl-C after it, the notice on the next row
      const lines = t.screen.lines();
      const notice = lines.findIndex((l) => l.startsWith('voxgate: SIGINT: ending'));
      expect(lines[notice - 1]).toMatch(/^… \S.*\^C$/);
      relay.stopAfterPartial('hold');
      await t.until('a partial after the notice', () => t.screen.current().startsWith('… '));
      t.type('\x03');
      expect(await t.exited).toBe(130);
      // before: the process exited with the cursor after the partial's "^C"
      expect(t.screen.current()).toBe('');
      expect(t.screen.lines().at(-2)).toMatch(/^… \S.*\^C$/);
    } finally {
      t.child.kill('SIGKILL');
      relay.close();
    }
  }, 60_000);

  it('partials wider than the terminal: each replaces the last on one row, none of them is left when the finals are '
    + 'printed', async () => {
    const columns = 16;
    const entry = speechFixtures().sort((a, b) => b.reference.length - a.reference.length)[0]!;
    const t = onTerminal([entry.file, '--realtime'], columns);
    try {
      expect(await t.exited).toBe(0);
      const finals = t.raw().match(FINAL_LINE) ?? [];
      expect(finals.join('').length).toBeGreaterThan(2 * columns);
      expect(t.raw()).toContain('… ');
      // before: the rows the partials had wrapped onto stayed above the final, one set per partial
      expect(t.screen.lines()).toEqual([...wrapped(finals, columns), '']);
    } finally {
      t.child.kill('SIGKILL');
    }
  }, 60_000);

  it('--multichannel: the two channels\' partials share the row, neither hides the other', async () => {
    // ch0: a clip, ch1: another, starting 1 s later: for a while both channels speak at once
    const [a, b] = speechFixtures().map((e) => loadWav(e)).sort((x, y) => y.durationMs - x.durationMs);
    expect(b!.sampleRateHz).toBe(a!.sampleRateHz);
    const [left, right, offset] = [pcmSamples(a!.data), pcmSamples(b!.data), a!.sampleRateHz];
    const both = new Float32Array(2 * Math.max(left.length, offset + right.length));
    left.forEach((s, i) => { both[2 * i] = s; });
    right.forEach((s, i) => { both[2 * (offset + i) + 1] = s; });
    const file = path.join(dir, 'stereo.wav');
    writeFileSync(file, encodeWav(both, a!.sampleRateHz, 2));
    const columns = 120;
    const t = onTerminal([file, '--realtime', '--multichannel'], columns);
    try {
      expect(await t.exited).toBe(0);
      // before: the row showed the channel whose partial came last, switching back and forth
      expect(shownBetweenRedraws(t.raw(), columns)).toContainEqual(expect.stringMatching(/^… ch0 \S.* \| ch1 \S/));
      const finals = t.raw().match(FINAL_LINE) ?? [];
      expect(finals.map((f) => f.slice(0, 4)).sort()).toEqual(['[ch0', '[ch1']);
      expect(t.screen.lines()).toEqual([...wrapped(finals, columns), '']);
    } finally {
      t.child.kill('SIGKILL');
    }
  }, 60_000);
});
