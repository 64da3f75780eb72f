/**
 * What a terminal shows of the bytes written to it, as far as `voxgate transcribe` drives one: text with xterm's
 * autowrap (the cursor stays on the last column until the next character), CR, LF, `ESC[2K` (erase the line) and
 * `ESC[K` (erase to its end). Any other control sequence throws, so a test notices output it cannot judge. CJK
 * ideographs and fullwidth forms take two columns, combining marks none (they join the character before them),
 * everything else one.
 */
const WIDE = /[\u3000-\u9fff\uac00-\ud7a3\uff00-\uff60]/u;
const CSI = /^\x1b\[([0-9;]*)([A-Za-z])/;

export class TerminalScreen {
  private readonly rows: string[][] = [[]];
  private row = 0;
  private col = 0;

  constructor(readonly columns: number) {}

  write(text: string): this {
    for (let i = 0; i < text.length;) {
      const ch = String.fromCodePoint(text.codePointAt(i)!);
      if (ch === '\x1b') {
        const m = CSI.exec(text.slice(i));
        if (m === null || !['2K', 'K'].includes(`${m[1]}${m[2]}`)) throw new Error(`unexpected escape ${JSON.stringify(text.slice(i, i + 8))}`);
        const line = this.rows[this.row]!;
        line.splice(m[1] === '2' ? 0 : Math.min(this.col, this.columns));
        i += m[0].length;
        continue;
      }
      i += ch.length;
      if (ch === '\r') this.col = 0;
      else if (ch === '\n') this.lineFeed();
      else if (ch.codePointAt(0)! < 0x20 || ch === '\x7f') throw new Error(`unexpected control ${JSON.stringify(ch)}`);
      else if (/\p{M}/u.test(ch) && this.col > 0) this.rows[this.row]![this.col - 1] += ch;
      else this.put(ch, WIDE.test(ch) ? 2 : 1);
    }
    return this;
  }

  /** The rows, trailing blanks cut; the last is the cursor's. */
  lines(): string[] {
    return this.rows.map((r) => Array.from({ length: r.length }, (_, i) => r[i] ?? ' ').join('').trimEnd());
  }

  /** The cursor's row as shown. */
  current(): string {
    return this.lines()[this.row] ?? '';
  }

  /** 0 when whatever comes next starts a line of its own. */
  cursorColumn(): number {
    return this.col;
  }

  private put(ch: string, width: number): void {
    if (this.col + width > this.columns) { // the pending wrap: the next character goes to the next row
      this.lineFeed();
      this.col = 0;
    }
    const line = this.rows[this.row]!;
    line[this.col] = ch;
    if (width === 2) line[this.col + 1] = '';
    this.col += width;
  }

  private lineFeed(): void {
    this.row += 1;
    this.rows[this.row] ??= [];
  }
}
