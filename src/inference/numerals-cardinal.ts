/**
 * Spelled numbers read into values, for numerals.ts: number words, `cardinal` (units to billions, ordinals ending
 * one) and `digitRun` (numbers read digit by digit). numerals.ts decides what becomes digits in the display text;
 * the rules here only say how far a number reaches and what it is worth.
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
export const SCALES: Readonly<Record<string, number>> = { thousand: 1e3, million: 1e6, billion: 1e9 };
export const ORDINAL_UNITS: Readonly<Record<string, number>> = {
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
const FRACTIONS: ReadonlySet<string> = new Set(['half', 'halves', 'quarter', 'quarters', 'third', 'thirds']);

export const has = (table: Readonly<Record<string, number | string>>, w: string | undefined): w is string =>
  w !== undefined && Object.hasOwn(table, w);

/** A number read from the words up to `end` (exclusive): its value and whether it ended in an ordinal. */
export interface NumberSpan {
  value: number;
  ordinal: boolean;
  end: number;
}

/** 0-99 at i: a unit, a teen, or tens with an optional unit; ordinal forms end it. */
export function belowHundred(w: readonly string[], i: number): NumberSpan | null {
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

/** The digit a word spells ("oh" is 0), or null. */
export function digitOf(x: string | undefined): string | null {
  return has(UNITS, x) ? String(UNITS[x]) : x === 'oh' ? '0' : null;
}

/** Whether a digit is spelled at i: a digit word, or "double" / "triple" before one ("double check" spells none). */
export function digitAt(w: readonly string[], i: number): boolean {
  const x = w[i];
  return digitOf(x) !== null || ((x === 'double' || x === 'triple') && digitOf(w[i + 1]) !== null);
}

/** "a" as one before "hundred" or a scale at i + 1, but not after a fraction: "half a million" is 500000 or words,
 * never 1000000 (nor is "a quarter of a million"); nor in thanks ("thanks a million", "a million thanks"), which
 * count nothing. */
function aIsOne(w: readonly string[], i: number): boolean {
  const before = w[i - 1] === 'of' ? w[i - 2] : w[i - 1];
  const thanks = w[i - 1] === 'thanks' || (w[i - 1] === 'you' && w[i - 2] === 'thank') || w[i + 2] === 'thanks';
  return w[i] === 'a' && !FRACTIONS.has(before ?? '') && !thanks;
}

/** "oh" and one digit at j, the last digits after "hundred" or a scale ("one hundred oh one" is 101, "two thousand
 * oh five" 2005) or a clock time's minutes ("nine oh five"); not when more digits follow, which make a digit string
 * ("eight hundred oh five five five"). */
export function ohTail(w: readonly string[], j: number): NumberSpan | null {
  const d = w[j + 1];
  if (w[j] !== 'oh' || !has(UNITS, d) || UNITS[d] === 0 || digitAt(w, j + 2)) return null;
  return { value: UNITS[d]!, ordinal: false, end: j + 2 };
}

/** 0-9999 at i: [below-hundred | "a"] ["hundred" ["and"] [below-hundred | "oh" digit]] ("twelve hundred" is 1200). */
function group(w: readonly string[], i: number): NumberSpan | null {
  let head = belowHundred(w, i);
  if (head === null && aIsOne(w, i) && (w[i + 1] === 'hundred' || w[i + 1] === 'hundredth')) {
    head = { value: 1, ordinal: false, end: i + 1 };
  }
  if (head === null || head.ordinal) return head;
  const h = w[head.end];
  if (h === 'hundredth') return { value: head.value * 100, ordinal: true, end: head.end + 1 };
  if (h !== 'hundred' || head.value === 0) return head;
  const value = head.value * 100;
  let j = head.end + 1;
  if (w[j] === 'and' && belowHundred(w, j + 1) !== null) j++;
  const tail = belowHundred(w, j) ?? ohTail(w, j);
  // "eight hundred five five five" is 800 then the digit string 555, not 805 then 55
  const digitString = tail !== null && tail.end === j + 1 && digitAt(w, j + 1) && digitAt(w, j);
  // "five hundred and five hundred": a tail before "hundred" heads the next number
  const nextHead = tail !== null && (w[tail.end] === 'hundred' || w[tail.end] === 'hundredth');
  // "zero" adds nothing to a hundred: it is a digit of what follows ("one hundred zero one" -> 100 01), never dropped
  if (tail === null || tail.value === 0 || digitString || nextHead) return { value, ordinal: false, end: head.end + 1 };
  return { value: value + tail.value, ordinal: tail.ordinal, end: tail.end };
}

/** A whole cardinal or ordinal at i: groups joined by falling scale words ("two million five hundred thousand"). */
export function cardinal(w: readonly string[], i: number): NumberSpan | null {
  const aScale = aIsOne(w, i) && (has(SCALES, w[i + 1]) || has(ORDINAL_SCALES, w[i + 1]));
  const first = group(w, i) ?? (aScale ? { value: 1, ordinal: false, end: i + 1 } : null);
  if (first === null) return null;
  let g: NumberSpan = first;
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
    const next = group(w, j) ?? ohTail(w, j);
    // "two thousand three thousand": a group with a scale of its own as large starts the next number
    const after = next === null ? undefined : w[next.end];
    const ownScale = next !== null && !next.ordinal && has(SCALES, after) && SCALES[after]! >= lastScale;
    // "zero" adds nothing to a scale either ("two thousand zero one" -> 2000 01)
    const stop = next === null || next.value === 0 || next.value >= lastScale || ownScale;
    if (stop) return { value: total, ordinal: false, end: g.end + 1 };
    g = next;
  }
  return { value: total + g.value, ordinal: g.ordinal, end: g.end };
}

/** Digits of a run of digit words at i spelling two or more digits ("oh" = 0, "double"/"triple" X), or null.
 * `afterNumber`: a number stands just before i, so a leading "oh" is surely a 0 ("nineteen oh five"). */
export function digitRun(w: readonly string[], i: number, afterNumber = true): { digits: string; end: number } | null {
  const run = digitWords(w, i);
  // "oh" opening a short run is the interjection ("oh, one more thing", "oh oh"): a 0 only after a number, or in a
  // run of three digits or more with one other than "oh" ("oh oh seven" -> 007)
  if (run === null || afterNumber || w[i] !== 'oh') return run;
  return run.digits.length >= 3 && w.slice(i, run.end).some((x) => has(UNITS, x)) ? run : null;
}

function digitWords(w: readonly string[], i: number): { digits: string; end: number } | null {
  let digits = '';
  let words = 0;
  let j = i;
  let lastStart = i;
  for (;;) {
    const repeat = w[j] === 'double' ? 2 : w[j] === 'triple' ? 3 : 1;
    const d = digitOf(w[repeat > 1 ? j + 1 : j]);
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
