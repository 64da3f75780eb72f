/**
 * Numerals in a transcript's display form (inverse text normalisation for the customer-service domain): the model
 * spells numbers as words ("my pin is four oh seven two", "twenty five dollars and fifty cents"); voice bots want
 * digits ("my pin is 4072", "$25.50"). `formatNumerals(words)` rewrites the words of one final and returns the
 * display text; the words themselves (and their timings) are not touched, so `text` stays what the model heard.
 *
 * What it converts, left to right, longest match first:
 * - digit strings: two or more digit words in a row, with "oh" as 0 and "double" / "triple" repeating the next
 *   digit ("five five five oh one" -> 55501, "double seven" -> 77); a digit word just before "hundred" or a scale
 *   word is left to the cardinal that follows ("one eight hundred" -> 1 800); "oh" opening a run stays a word
 *   unless a number stands before it or the run spells three digits or more ("oh one more thing", but "nineteen
 *   oh five" -> 1905, "oh oh seven" -> 007);
 * - cardinals: units, teens, tens, "hundred", "thousand", "million", "billion", with "and" after a hundred or a
 *   scale and "a" before one ("three hundred and twelve" -> 312, "a thousand" -> 1000, "twelve hundred" -> 1200);
 * - digits read in groups: digit strings and numbers below 100, side by side, join into one number
 *   ("nineteen twenty eight" -> 1928, "five five five twelve thirty four" -> 5551234, "eight twenty seven" -> 827);
 * - ordinals ending a cardinal ("twenty first" -> 21st, "tenth" -> 10th);
 * - clock times with "a m" / "p m" ("three thirty p m" -> 3:30 pm, "nine oh five a m" -> 9:05 am, "ten pm");
 * - decimals ("three point one four" -> 3.14, "two point oh" -> 2.0), percent ("ten percent" -> 10%), currency
 *   ("twenty dollars" -> $20, "five dollars and fifty cents" -> $5.50, "ten pounds" -> £10, "three euros" -> €3,
 *   "five cents" -> 5 cents); a unit takes the whole number read in groups before it ("nineteen ninety nine
 *   dollars" -> $1999) but not a lone digit, which counts ("two twenty dollar bills" -> two $20 bills).
 * A lone "zero" .. "nine" stays a word ("no one", "this one") unless a unit, a decimal point or another cardinal,
 * digit string or decimal stands next to it (an ordinal, an amount or a clock time does not: "the tenth one" ->
 * "the 10th one"); a lone "first" .. "ninth" always does ("first of all", "one second"). A group that carries a
 * scale as large as the one before it starts a new number ("two thousand three thousand" -> 2000 3000). Numbers
 * are written without separators (1200, 2500000): account and order numbers must stay parseable.
 */

const UNITS: Readonly<Record<string, number>> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9,
};
const TEENS: Readonly<Record<string, number>> = {
  ten: 10, eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17,
  eighteen: 18, nineteen: 19,
};
const TENS: Readonly<Record<string, number>> = {
  twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
};
const SCALES: Readonly<Record<string, number>> = { thousand: 1e3, million: 1e6, billion: 1e9 };
const ORDINAL_UNITS: Readonly<Record<string, number>> = {
  first: 1, second: 2, third: 3, fourth: 4, fifth: 5, sixth: 6, seventh: 7, eighth: 8, ninth: 9,
};
const ORDINAL_TEENS: Readonly<Record<string, number>> = {
  tenth: 10, eleventh: 11, twelfth: 12, thirteenth: 13, fourteenth: 14, fifteenth: 15, sixteenth: 16,
  seventeenth: 17, eighteenth: 18, nineteenth: 19,
};
const ORDINAL_TENS: Readonly<Record<string, number>> = {
  twentieth: 20, thirtieth: 30, fortieth: 40, fiftieth: 50, sixtieth: 60, seventieth: 70, eightieth: 80, ninetieth: 90,
};
const ORDINAL_SCALES: Readonly<Record<string, number>> = { hundredth: 100, thousandth: 1e3, millionth: 1e6 };
const CURRENCIES: Readonly<Record<string, string>> = {
  dollar: '$', dollars: '$', pound: '£', pounds: '£', euro: '€', euros: '€',
};

const has = (table: Readonly<Record<string, number | string>>, w: string | undefined): w is string =>
  w !== undefined && Object.hasOwn(table, w);

/** A number read from the words up to `end` (exclusive): its value and whether it ended in an ordinal. */
interface NumberSpan {
  value: number;
  ordinal: boolean;
  end: number;
}

/** 0-99 at i: a unit, a teen, or tens with an optional unit; ordinal forms end it. */
function belowHundred(w: readonly string[], i: number): NumberSpan | null {
  const x = w[i];
  if (has(TENS, x)) {
    const next = w[i + 1];
    if (has(UNITS, next) && UNITS[next]! > 0) return { value: TENS[x]! + UNITS[next]!, ordinal: false, end: i + 2 };
    if (has(ORDINAL_UNITS, next)) return { value: TENS[x]! + ORDINAL_UNITS[next]!, ordinal: true, end: i + 2 };
    return { value: TENS[x]!, ordinal: false, end: i + 1 };
  }
  for (const [table, ordinal] of [[TEENS, false], [UNITS, false], [ORDINAL_TENS, true], [ORDINAL_TEENS, true],
    [ORDINAL_UNITS, true]] as const) {
    if (has(table, x)) return { value: table[x]!, ordinal, end: i + 1 };
  }
  return null;
}

function isDigitWord(x: string | undefined): boolean {
  return has(UNITS, x) || x === 'oh' || x === 'double' || x === 'triple';
}

/** 0-9999 at i: [below-hundred | "a"] ["hundred" ["and"] [below-hundred]] ("twelve hundred" is 1200). */
function group(w: readonly string[], i: number): NumberSpan | null {
  let head = belowHundred(w, i);
  if (head === null && w[i] === 'a' && (w[i + 1] === 'hundred' || w[i + 1] === 'hundredth')) {
    head = { value: 1, ordinal: false, end: i + 1 };
  }
  if (head === null || head.ordinal) return head;
  const h = w[head.end];
  if (h === 'hundredth') return { value: head.value * 100, ordinal: true, end: head.end + 1 };
  if (h !== 'hundred' || head.value === 0) return head;
  const value = head.value * 100;
  let j = head.end + 1;
  if (w[j] === 'and' && belowHundred(w, j + 1) !== null) j++;
  const tail = belowHundred(w, j);
  // "eight hundred five five five" is 800 then the digit string 555, not 805 then 55
  const digitString = tail !== null && tail.end === j + 1 && isDigitWord(w[j + 1]) && isDigitWord(w[j]);
  if (tail === null || digitString) return { value, ordinal: false, end: head.end + 1 };
  return { value: value + tail.value, ordinal: tail.ordinal, end: tail.end };
}

/** A whole cardinal or ordinal at i: groups joined by falling scale words ("two million five hundred thousand"). */
function cardinal(w: readonly string[], i: number): NumberSpan | null {
  let g = group(w, i);
  if (g === null && w[i] === 'a' && (has(SCALES, w[i + 1]) || has(ORDINAL_SCALES, w[i + 1]))) {
    g = { value: 1, ordinal: false, end: i + 1 };
  }
  if (g === null) return null;
  let total = 0;
  let lastScale = Infinity;
  for (;;) {
    const s = w[g.end];
    if (g.ordinal || g.value === 0) break;
    if (has(ORDINAL_SCALES, s) && ORDINAL_SCALES[s]! < lastScale && ORDINAL_SCALES[s]! > 100) {
      return { value: total + g.value * ORDINAL_SCALES[s]!, ordinal: true, end: g.end + 1 };
    }
    if (!has(SCALES, s) || SCALES[s]! >= lastScale || g.value >= 1000) break;
    total += g.value * SCALES[s]!;
    lastScale = SCALES[s]!;
    let j = g.end + 1;
    if (w[j] === 'and') j++;
    const next = group(w, j);
    // "two thousand three thousand": a group with a scale of its own as large starts the next number
    const after = next === null ? undefined : w[next.end];
    const ownScale = next !== null && !next.ordinal && has(SCALES, after) && SCALES[after]! >= lastScale;
    if (next === null || next.value >= lastScale || ownScale) return { value: total, ordinal: false, end: g.end + 1 };
    g = next;
  }
  return { value: total + g.value, ordinal: g.ordinal, end: g.end };
}

/** Digits of a run of digit words at i spelling two or more digits ("oh" = 0, "double"/"triple" X), or null.
 * `afterNumber`: a number stands just before i, so a leading "oh" is surely a 0 ("nineteen oh five"). */
function digitRun(w: readonly string[], i: number, afterNumber = true): { digits: string; end: number } | null {
  const run = digitWords(w, i);
  // "oh" opening a short run is the interjection ("oh, one more thing", "oh oh"): a 0 only after a number, or in a
  // run of three digits or more with one other than "oh" ("oh oh seven" -> 007)
  if (run === null || afterNumber || w[i] !== 'oh') return run;
  return run.digits.length >= 3 && w.slice(i, run.end).some((x) => has(UNITS, x)) ? run : null;
}

function digitWords(w: readonly string[], i: number): { digits: string; end: number } | null {
  const digitAt = (k: number): string | null => (has(UNITS, w[k]) ? String(UNITS[w[k]]) : w[k] === 'oh' ? '0' : null);
  let digits = '';
  let words = 0;
  let j = i;
  let lastStart = i;
  for (;;) {
    const repeat = w[j] === 'double' ? 2 : w[j] === 'triple' ? 3 : 1;
    const d = digitAt(repeat > 1 ? j + 1 : j);
    if (d === null) break;
    lastStart = j;
    digits += d.repeat(repeat);
    j += repeat > 1 ? 2 : 1;
    words++;
  }
  // "one eight hundred": the digit before "hundred" or a scale belongs to that cardinal
  if (words >= 2 && (w[j] === 'hundred' || has(SCALES, w[j])) && w[lastStart] !== 'oh' && lastStart === j - 1) {
    return digits.length - 1 >= 2 ? { digits: digits.slice(0, -1), end: lastStart } : null;
  }
  // two digits make a string, also when one word spells them ("double seven" -> 77)
  return digits.length >= 2 ? { digits, end: j } : null;
}

function ordinalSuffix(n: number): string {
  const t = n % 100;
  if (t >= 11 && t <= 13) return 'th';
  return ['th', 'st', 'nd', 'rd'][n % 10] ?? 'th';
}

/** One piece of the output: a word passed through, or a number. `spelled` is the word of a lone 0-9, which stays
 * spelled out unless a `bare` number (a cardinal, digit string or decimal, not an ordinal, amount or clock time:
 * "the tenth one", "$20 one time") stands next to it; `group` marks digits read in groups (a digit string, or 0-99
 * in one or two words), which join the groups next to them ("nineteen twenty eight" -> 1928). */
type NumberPiece = { kind: 'number'; text: string; spelled: string | null; group: boolean; bare: boolean };
type Piece = { kind: 'word'; text: string } | NumberPiece;

function readNumber(w: readonly string[], i: number, afterNumber: boolean): { piece: NumberPiece; end: number } | null {
  const run = digitRun(w, i, afterNumber);
  if (run !== null) {
    return { piece: { kind: 'number', text: run.digits, spelled: null, group: true, bare: true }, end: run.end };
  }
  const n = cardinal(w, i);
  // "first" .. "ninth" alone are words ("first of all", "one second"), next to numbers or not
  if (n === null || (n.ordinal && n.end === i + 1 && n.value < 10)) return null;
  let text = n.ordinal ? `${n.value}${ordinalSuffix(n.value)}` : String(n.value);
  let end = n.end;
  // a decimal: "three point one four"
  if (!n.ordinal && w[end] === 'point') {
    const one = w[end + 1] === 'oh' ? '0' : has(UNITS, w[end + 1]) ? String(UNITS[w[end + 1]!]) : null;
    const frac = digitRun(w, end + 1) ?? (one === null ? null : { digits: one, end: end + 2 });
    if (frac !== null) {
      text += `.${frac.digits}`;
      end = frac.end;
    }
  }
  const lone = n.end === i + 1 && n.value < 10 && end === n.end;
  const group = !n.ordinal && end === n.end && n.value <= 99 && n.end - i <= 2;
  return { piece: { kind: 'number', text, spelled: lone ? w[i]! : null, group, bare: !n.ordinal }, end };
}

/** The number `text` (ending at word `end`) with the unit that follows it: percent, cents or a currency (with "and N
 * cents"); null when no unit follows. */
function unitAfter(w: readonly string[], end: number, text: string): { text: string; end: number } | null {
  const u = w[end];
  if (u === 'percent') return { text: `${text}%`, end: end + 1 };
  if (u === 'cents' || u === 'cent') return { text: `${text} ${u}`, end: end + 1 };
  if (has(CURRENCIES, u) && /^\d+(\.\d+)?$/.test(text)) {
    const symbol = CURRENCIES[u]!;
    if (w[end + 1] === 'and') {
      const c = cardinal(w, end + 2);
      if (c !== null && !c.ordinal && c.value < 100 && (w[c.end] === 'cents' || w[c.end] === 'cent' || w[c.end] === 'pence')
        && !text.includes('.')) {
        return { text: `${symbol}${text}.${String(c.value).padStart(2, '0')}`, end: c.end + 1 };
      }
    }
    return { text: `${symbol}${text}`, end: end + 1 };
  }
  return null;
}

/** A clock time at i: an hour 1-12, optional minutes ("oh five", 10-59), then "a m" / "p m" / "am" / "pm". */
function timeAt(w: readonly string[], i: number): { text: string; end: number } | null {
  const hour = belowHundred(w, i);
  if (hour === null || hour.ordinal || hour.end !== i + 1 || hour.value < 1 || hour.value > 12) return null;
  let j = i + 1;
  let minutes = '';
  if (w[j] === 'oh' && has(UNITS, w[j + 1]) && UNITS[w[j + 1]!]! > 0) {
    minutes = `:0${UNITS[w[j + 1]!]}`;
    j += 2;
  } else {
    const m = belowHundred(w, j);
    if (m !== null && !m.ordinal && m.value >= 10 && m.value <= 59) {
      minutes = `:${m.value}`;
      j = m.end;
    }
  }
  // "a m" / "p m" as the decoder spells letters; not inside a longer run of spelled letters ("nine a m b")
  if ((w[j] === 'a' || w[j] === 'p') && w[j + 1] === 'm' && (w[j + 2] ?? '').length !== 1) {
    return { text: `${hour.value}${minutes} ${w[j]}m`, end: j + 2 };
  }
  if (w[j] === 'am' || w[j] === 'pm') return { text: `${hour.value}${minutes} ${w[j]}`, end: j + 1 };
  return null;
}

const isGroupPiece = (p: Piece | undefined): p is NumberPiece => p?.kind === 'number' && p.group;

/** The display text of `words` (lower-case words as the decoder spells them) with numbers as digits. */
export function formatNumerals(words: readonly string[]): string {
  const pieces: Piece[] = [];
  for (let i = 0; i < words.length;) {
    const time = timeAt(words, i);
    if (time !== null) {
      pieces.push({ kind: 'number', text: time.text, spelled: null, group: false, bare: false });
      i = time.end;
      continue;
    }
    const n = readNumber(words, i, pieces[pieces.length - 1]?.kind === 'number');
    if (n === null) {
      pieces.push({ kind: 'word', text: words[i]! });
      i++;
      continue;
    }
    // a unit after digits read in groups takes them all ("twenty twenty one dollars" -> $2021, not 20 $21), up to a
    // lone digit, which is a count there ("two twenty dollar bills")
    let first = pieces.length;
    const joinsUnit = (p: Piece | undefined): boolean => isGroupPiece(p) && p.spelled === null;
    while (n.piece.group && first > 0 && joinsUnit(pieces[first - 1])) first--;
    const unit = unitAfter(words, n.end, pieces.slice(first).map((p) => p.text).join('') + n.piece.text);
    if (unit !== null) {
      pieces.length = first;
      pieces.push({ kind: 'number', text: unit.text, spelled: null, group: false, bare: false });
      i = unit.end;
    } else {
      pieces.push(n.piece);
      i = n.end;
    }
  }
  const isBare = (k: number): boolean => {
    const p = pieces[k];
    return p?.kind === 'number' && p.bare;
  };
  let out = '';
  pieces.forEach((p, k) => {
    if (k > 0) out += isGroupPiece(pieces[k - 1]) && isGroupPiece(p) ? '' : ' ';
    out += p.kind === 'number' && p.spelled !== null && !isBare(k - 1) && !isBare(k + 1) ? p.spelled : p.text;
  });
  return out;
}
