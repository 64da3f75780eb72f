/**
 * transcriptPrinter on a terminal-like output (isTTY, `columns`) replayed on a terminal model: the partial row never
 * wraps whatever its text, so each partial replaces the last whole; the real terminal runs are in terminal.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { transcriptPrinter } from '../../src/cli/transcript-printer.js';
import { GatewayError } from '../../src/protocol/errors.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { TerminalScreen } from './terminal-screen.js';

function onScreen(columns: number) {
  const screen = new TerminalScreen(columns);
  // a terminal's line discipline turns LF into CR LF (onlcr)
  const tty = { isTTY: true, columns, write: (s: string) => screen.write(s.replace(/\n/g, '\r\n')) };
  return { screen, printer: transcriptPrinter(tty, tty, false) };
}
const partial = (text: string, channel?: number): ServerMessage => ({ type: 'transcript.partial', utterance_id: 0,
  seq: 0, text, stable_text: '', start_ms: 0, end_ms: 0, latency_ms: 0, ...(channel === undefined ? {} : { channel }) });
const final = (text: string, channel?: number): ServerMessage => ({ type: 'transcript.final', utterance_id: 0, seq: 1,
  text, words: [], confidence: 1, start_ms: 0, end_ms: 1000, latency_ms: 0, reason: 'silence',
  ...(channel === undefined ? {} : { channel }) });

describe('transcriptPrinter on a terminal', () => {
  it('a partial wider than the terminal shows its end on one row; a shorter one after it leaves nothing of it', () => {
    const { screen, printer } = onScreen(12);
    printer.print(partial('your password has been changed'));
    expect(screen.lines()).toEqual(['… … changed']); // 11 columns: the 12th would wrap on some terminals
    printer.print(partial('yes'));
    expect(screen.lines()).toEqual(['… yes']);
  });

  it('wide characters count two columns, combining marks none', () => {
    const { screen, printer } = onScreen(10);
    printer.print(partial('密码已经更改了'));
    expect(screen.lines()).toEqual(['… …更改了']);
    expect(screen.cursorColumn()).toBe(9);
    printer.print(partial('cafe\u0301 cafe\u0301'));
    expect(screen.lines()).toEqual(['… …e\u0301 cafe\u0301']);
  });

  it('a newline or escape in a partial does not move the cursor off its row', () => {
    const { screen, printer } = onScreen(40);
    printer.print(partial('one\ntwo\x1b[2Jthree'));
    printer.print(partial('four'));
    expect(screen.lines()).toEqual(['… four']);
  });

  it('--multichannel: the channels share the row, a long one cut to what the short one leaves; a final draws the '
    + 'other channel\'s partial again under it', () => {
    const { screen, printer } = onScreen(30);
    printer.print(partial('hello', 1));
    printer.print(partial('the quick brown fox jumps', 0));
    expect(screen.lines()).toEqual(['… ch0 … fox jumps | ch1 hello']); // 29 columns
    printer.print(final('the quick brown fox jumps over', 0));
    expect(screen.lines()).toEqual(['[ch0 0.00-1.00] the quick brow', 'n fox jumps over', '… ch1 hello']);
    printer.print(final('hello there', 1));
    expect(screen.lines()).toEqual(['[ch0 0.00-1.00] the quick brow', 'n fox jumps over', '[ch1 0.00-1.00] hello there',
      '']);
  });

  it('endRow ends a shown partial row only; an error message starts a row of its own', () => {
    const { screen, printer } = onScreen(40);
    expect(printer.endRow()).toBe(false);
    printer.print(partial('so far'));
    printer.print(new GatewayError('GW_ERR_INTERNAL', 'boom').toErrorMessage());
    expect(screen.lines()).toEqual(['… so far', 'error GW_ERR_INTERNAL (fatal): boom', '']);
    expect(printer.endRow()).toBe(false);
  });

  it('width unknown (0 columns): the partial is not cut', () => {
    const written: string[] = [];
    const out = { isTTY: true, columns: 0, write: (s: string) => written.push(s) };
    transcriptPrinter(out, out, false).print(partial('x'.repeat(300)));
    expect(written.join('')).toBe(`\r\x1b[2K… ${'x'.repeat(300)}`);
  });
});
