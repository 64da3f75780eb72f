/**
 * How `voxgate transcribe` prints a session's messages: finals as `[start-end] text` lines (seconds), partials one line
 * each, or, on a terminal, every channel's open partial on one row rewritten in place and cut to the terminal's width
 * (a wrapped row cannot be erased whole); anything printed after a partial starts a row of its own. `--json` prints
 * every message as a JSON line.
 */
import type { ServerMessage } from '../protocol/messages.js';

/** Seconds with two decimals, as final lines show times. */
function seconds(ms: number): string {
  return (ms / 1000).toFixed(2);
}

/** Cells a terminal gives a character: 0 for a combining mark, 2 for a CJK ideograph or fullwidth form, else 1. */
function cells(ch: string): number {
  if (/[\p{M}\u200b-\u200f]/u.test(ch)) return 0;
  return /[\u1100-\u115f\u2e80-\u303e\u3041-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\u{1f300}-\u{1faff}\u{20000}-\u{3fffd}]/u
    .test(ch) ? 2 : 1;
}

const cellsOf = (text: string): number => [...text].reduce((n, c) => n + cells(c), 0);

/** The end of `text` that fits in `width` cells, `…` in front when its start is cut. */
function tail(text: string, width: number): string {
  const total = cellsOf(text);
  if (total <= width) return text;
  const chars = [...text];
  let from = 0;
  for (let used = total + 1; used > width && from < chars.length; from += 1) used -= cells(chars[from]!);
  return `…${chars.slice(from).join('')}`;
}

/**
 * The partial row: every channel's open partial (`[label, text]`, `ch0 ` or none) after `… `, the longer texts cut to
 * an equal share of what the shorter leave of `columns` - 1 cells, so the row never wraps and `\r` erases it whole (a
 * wrapped row left its first rows on the screen, one set per partial). Not cut when the width is unknown.
 */
function partialRow(parts: (readonly [string, string])[], columns: number | undefined): string {
  if (columns === undefined || columns <= 0) return `… ${parts.map(([l, t]) => l + t).join(' | ')}`;
  const room = columns - 1 - '… '.length - ' | '.length * (parts.length - 1);
  const short = parts.map(([l, t]) => cellsOf(l + t)).filter((w) => w <= room / parts.length);
  const share = Math.floor((room - short.reduce((a, b) => a + b, 0)) / Math.max(parts.length - short.length, 1));
  const row = parts.map(([label, text]) => label + tail(text, Math.max(share - cellsOf(label), 1)));
  return tail(`… ${row.join(' | ')}`, columns - 1); // cut again only on a terminal too narrow for the labels
}

/** Where the printer writes: process.stdout / stderr, whose `columns` follows the terminal's width. */
export interface PrinterOutput { write(text: string): unknown; isTTY?: boolean; columns?: number }

export interface TranscriptPrinter {
  print(msg: ServerMessage): void;
  /** Ends the partial row with a newline (the partial stays shown) so what comes next starts a row of its own; true
   *  if there was one. Anything else written to the terminal goes after it. */
  endRow(): boolean;
}

/**
 * Prints partials and finals. On a TTY the open partials share one row, rewritten in place; a final replaces it and
 * the other channels' partials are drawn again under the final.
 */
export function transcriptPrinter(out: PrinterOutput, err: PrinterOutput, json: boolean): TranscriptPrinter {
  const tty = out.isTTY === true && !json;
  /** Open partials by channel (0 without --multichannel): label (`ch1 ` or none) and text. */
  const partials = new Map<number, readonly [string, string]>();
  let rowShown = false;
  const draw = (): void => {
    const parts = [...partials].sort(([a], [b]) => a - b).map(([, part]) => part);
    out.write(`\r\x1b[2K${partialRow(parts, out.columns)}`);
    rowShown = true;
  };
  const endRow = (): boolean => {
    if (!rowShown) return false;
    out.write('\n');
    rowShown = false;
    return true;
  };
  const print = (msg: ServerMessage): void => {
    if (json) {
      out.write(`${JSON.stringify(msg)}\n`);
      return;
    }
    const ch = 'channel' in msg && msg.channel !== undefined ? `ch${msg.channel} ` : '';
    if (msg.type === 'transcript.partial') {
      if (!tty) {
        out.write(`partial ${ch}${msg.utterance_id}: ${msg.text}\n`);
        return;
      }
      // a control character in the text (a newline, an escape) would move the cursor off the row it erases
      partials.set(msg.channel ?? 0, [ch, msg.text.replace(/\p{Cc}/gu, ' ')]);
      draw();
    } else if (msg.type === 'transcript.final') {
      if (rowShown) out.write('\r\x1b[2K');
      rowShown = false;
      out.write(`[${ch}${seconds(msg.start_ms)}-${seconds(msg.end_ms)}] ${msg.formatted_text ?? msg.text}\n`);
      (msg.alternatives ?? []).slice(1).forEach((a, i) => {
        out.write(`  alt ${i + 2} (${a.confidence.toFixed(2)}): ${a.formatted_text ?? a.text}\n`);
      });
      partials.delete(msg.channel ?? 0);
      if (tty && partials.size > 0) draw();
    } else if (msg.type === 'error') {
      endRow();
      err.write(`error ${msg.code}${msg.fatal ? ' (fatal)' : ''}: ${msg.message}\n`);
    }
  };
  return { print, endRow };
}
