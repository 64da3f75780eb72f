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
 *   oh five" -> 1905, "oh oh seven" -> 007); "double" / "triple" before anything but a digit is a word ("one
 *   hundred one double check" -> 101 double check);
 * - cardinals: units, teens, tens, "hundred", "thousand", "million", "billion", with "and" after a hundred or a
 *   scale and "a" before one ("three hundred and twelve" -> 312, "a thousand" -> 1000, "twelve hundred" -> 1200),
 *   "oh" and a digit ending one ("one hundred oh one" -> 101, "two thousand oh five" -> 2005) and "and a half"
 *   adding half the last unit named ("two and a half" -> 2.5, "a million and a half" -> 1500000); "zero" after
 *   "hundred" or a scale is a digit of what follows, never dropped ("two thousand zero one" -> 2000 01);
 * - digits read in groups: digit strings and numbers below 100, side by side, join into one number
 *   ("nineteen twenty eight" -> 1928, "five five five twelve thirty four" -> 5551234, "eight twenty seven" -> 827);
 * - ordinals ending a cardinal ("twenty first" -> 21st, "tenth" -> 10th), and "first" .. "ninth" as a day next to a
 *   month ("march third" -> march 3rd, "the third of march" -> the 3rd of march; "may" only after "on", "by", ...
 *   or before a year: "you may first ...");
 * - clock times with "a m" / "p m" ("three thirty p m" -> 3:30 pm, "nine oh five a m" -> 9:05 am, "ten pm"), or
 *   with minutes before a part of the day ("four thirty in the morning" -> 4:30 in the morning, "this afternoon",
 *   "at night", "tonight");
 * - decades after "eighteen" / "nineteen" / "the twenty" ("nineteen nineties" -> 1990s, "the nineteen hundreds" ->
 *   1900s, "in the twenty twenties" -> 2020s; "ten twenties" stays a count of banknotes); "twenty four seven" ->
 *   24/7;
 * - decimals ("three point one four" -> 3.14, "two point oh" -> 2.0), percent ("ten percent" -> 10%, "point five
 *   percent" -> 0.5%, "point nine nine dollars" -> $0.99), currency ("twenty dollars" -> $20, "five dollars and
 *   fifty cents" -> $5.50, "a dollar and fifty cents" -> $1.50, "two point five dollars" -> $2.50, "ten pounds" ->
 *   £10, "three euros" -> €3, "five cents" -> 5 cents, "five pence" -> 5 pence); a unit takes the whole number
 *   read in groups before it ("nineteen ninety nine dollars" -> $1999) but not a lone digit, which counts ("two
 *   twenty dollar bills" -> two $20 bills), unless a plural currency follows ("four ninety nine dollars" -> $499;
 *   "this one twenty dollars" -> this one $20).
 * What it leaves as words, because digits could be wrong: a lone "zero" .. "nine" ("no one", "this one") unless a
 * unit, a decimal point or another cardinal, digit string or decimal stands next to it (an ordinal, an amount or a
 * clock time does not: "the tenth one" -> "the 10th one"); a lone "first" .. "ninth" but a day ("first of all",
 * "one second", "i may second that"); "a dollar" without cents ("a dollar amount"); "a" before a scale in thanks ("thanks a
 * million"); "hundred" or a scale with no number before it, and the numbers after it ("a couple hundred and
 * fifty" is about 250, not 50; "hundred and five" too); "point five" without "percent" or a currency (item five of
 * a list?); fractions other than "and a half" ("a quarter" is also a coin, "a quarter past nine" a time, "half a
 * million" and "three quarters" stay words). A group that carries a scale as large as the one before it starts a
 * new number ("two thousand three thousand" -> 2000 3000). Numbers are written without separators (1200, 2500000):
 * account and order numbers must stay parseable.
 */

import {
  SCALES, belowHundred, cardinal, digitAt, digitOf, digitRun, has, ohTail,
} from './numerals-cardinal.js';

const CURRENCIES: Readonly<Record<string, string>> = {
  dollar: '$', dollars: '$', pound: '£', pounds: '£', euro: '€', euros: '€',
};
const CENTS: ReadonlySet<string> = new Set(['cents', 'cent', 'pence']);
/** Plural currencies name an amount, so the lone digit before them is part of it ("four ninety nine dollars" is
 * $499); a singular one may be a banknote ("two twenty dollar bills"). */
const PLURAL_CURRENCIES: ReadonlySet<string> = new Set(['dollars', 'pounds', 'euros']);
const PLURAL_TENS: Readonly<Record<string, number>> = {
  tens: 10, twenties: 20, thirties: 30, forties: 40, fifties: 50, sixties: 60, seventies: 70, eighties: 80,
  nineties: 90,
};
/** Centuries a caller names in a decade ("nineteen nineties"): 1800s to 2000s. */
const CENTURIES: Readonly<Record<string, number>> = { eighteen: 18, nineteen: 19, twenty: 20 };
const MONTHS: ReadonlySet<string> = new Set(['january', 'february', 'march', 'april', 'may', 'june', 'july',
  'august', 'september', 'october', 'november', 'december']);
/** Before "may" and its day, these make it the month, not the verb ("on may first", but "you may first ..."). */
const DATE_PREPOSITIONS: ReadonlySet<string> = new Set(['on', 'by', 'until', 'till', 'since', 'before', 'after',
  'from', 'to', 'through', 'is', 'was', 'due']);
const DAY_PARTS: ReadonlySet<string> = new Set(['morning', 'afternoon', 'evening']);
/** After one of these, "point" is the noun ("at this point five percent of calls drop"). */
const DETERMINERS: ReadonlySet<string> = new Set(['this', 'that', 'these', 'those', 'which', 'what', 'whatever', 'some',
  'any', 'each', 'every', 'no', 'same', 'my', 'your', 'his', 'her', 'its', 'our', 'their']);

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

/** The digits after a decimal point at i: a digit string or one digit ("oh" is 0). */
function decimalDigits(w: readonly string[], i: number): { digits: string; end: number } | null {
  const one = digitOf(w[i]);
  return digitRun(w, i) ?? (one === null ? null : { digits: one, end: i + 1 });
}

/** Whether the lone "first" .. "ninth" at i is a day of the month: next to a month's name ("march third", "june the
 * second", "the third of march"); after "may" only with a date's preposition before it or a year after it ("on may
 * first", "may second nineteen sixty five", but "you may first ...", "i may second that"). */
function isDay(w: readonly string[], i: number): boolean {
  if (w[i + 1] === 'of' && MONTHS.has(w[i + 2] ?? '')) return true;
  const m = w[i - 1] === 'the' ? i - 2 : i - 1;
  if (!MONTHS.has(w[m] ?? '')) return false;
  const year = cardinal(w, i + 1);
  return w[m] !== 'may' || DATE_PREPOSITIONS.has(w[m - 1] ?? '') || (year !== null && year.value >= 10);
}

function readNumber(w: readonly string[], i: number, afterNumber: boolean): { piece: NumberPiece; end: number } | null {
  const run = digitRun(w, i, afterNumber);
  if (run !== null) {
    return { piece: { kind: 'number', text: run.digits, spelled: null, group: true, bare: true }, end: run.end };
  }
  const n = cardinal(w, i);
  // "first" .. "ninth" alone are words ("first of all", "one second"), next to numbers or not, but for a day
  if (n === null || (n.ordinal && n.end === i + 1 && n.value < 10 && !isDay(w, i))) return null;
  let text = n.ordinal ? `${n.value}${ordinalSuffix(n.value)}` : String(n.value);
  let end = n.end;
  // a decimal: "three point one four"
  const frac = !n.ordinal && w[end] === 'point' ? decimalDigits(w, end + 1) : null;
  if (frac !== null) {
    text += `.${frac.digits}`;
    end = frac.end;
  } else if (!n.ordinal && w[end] === 'and' && w[end + 1] === 'a' && w[end + 2] === 'half') {
    // "and a half" adds half the last unit named: "two and a half" is 2.5, "a million and a half" 1500000
    const last = w[end - 1];
    const scale = last === 'hundred' ? 100 : has(SCALES, last) ? SCALES[last]! : 1;
    text = scale === 1 ? `${text}.5` : String(n.value + scale / 2);
    end += 3;
  }
  const lone = !n.ordinal && n.end === i + 1 && n.value < 10 && end === n.end;
  const group = !n.ordinal && end === n.end && n.value <= 99 && n.end - i <= 2;
  return { piece: { kind: 'number', text, spelled: lone ? w[i]! : null, group, bare: !n.ordinal }, end };
}

/** The number `text` (ending at word `end`) with the unit that follows it: percent, cents / pence or a currency (with
 * "[and] N cents"); null when no unit follows. */
function unitAfter(w: readonly string[], end: number, text: string): { text: string; end: number } | null {
  const u = w[end];
  if (u === 'percent') return { text: `${text}%`, end: end + 1 };
  if (CENTS.has(u ?? '')) return { text: `${text} ${u}`, end: end + 1 }; // "five pence" -> 5 pence, as cents
  if (has(CURRENCIES, u) && /^\d+(\.\d+)?$/.test(text)) {
    const symbol = CURRENCIES[u]!;
    // "five dollars and fifty cents", "two dollars fifty cents"
    const c = text.includes('.') ? null : cardinal(w, w[end + 1] === 'and' ? end + 2 : end + 1);
    if (c !== null && !c.ordinal && c.value < 100 && CENTS.has(w[c.end] ?? '')) {
      return { text: `${symbol}${text}.${String(c.value).padStart(2, '0')}`, end: c.end + 1 };
    }
    // money is written in whole cents: "two point five dollars" is $2.50
    return { text: `${symbol}${text}${/\.\d$/.test(text) ? '0' : ''}`, end: end + 1 };
  }
  return null;
}

/** "in the morning", "this afternoon", "at night", "tonight" at j: the part of the day a clock time is in. */
function dayPartAt(w: readonly string[], j: number): boolean {
  return (w[j] === 'in' && w[j + 1] === 'the' && DAY_PARTS.has(w[j + 2] ?? ''))
    || (w[j] === 'this' && DAY_PARTS.has(w[j + 1] ?? '')) || (w[j] === 'at' && w[j + 1] === 'night')
    || w[j] === 'tonight';
}

/** A clock time at i: an hour 1-12, optional minutes ("oh five", 10-59), then "a m" / "p m" / "am" / "pm"; or an
 * hour and minutes before a part of the day, which stays words ("four thirty in the morning" -> 4:30 in the
 * morning; an hour alone there may be a count: "i have one in the afternoon"). */
function timeAt(w: readonly string[], i: number): { text: string; end: number } | null {
  const hour = belowHundred(w, i);
  if (hour === null || hour.ordinal || hour.end !== i + 1 || hour.value < 1 || hour.value > 12) return null;
  let j = i + 1;
  let minutes = '';
  const oh = ohTail(w, j); // "nine oh five"
  if (oh !== null) {
    minutes = `:0${oh.value}`;
    j = oh.end;
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
  return minutes !== '' && dayPartAt(w, j) ? { text: `${hour.value}${minutes}`, end: j } : null;
}

/** A decade at i, "nineteen nineties" -> 1990s (with "hundreds" a century, 1900s), not nineteen of them: only
 * centuries a caller names (1800s to 2000s), and "twenty" only after "the" ("in the twenty twenties"), since
 * "twenty twenties" alone is as likely twenty $20 bills, as "ten twenties" always is. */
function decadeAt(w: readonly string[], i: number): { text: string; end: number } | null {
  const century = has(CENTURIES, w[i]) ? CENTURIES[w[i]]! : 0;
  const plural = w[i + 1];
  if (century === 0 || (century === 20 && w[i - 1] !== 'the')) return null;
  if (has(PLURAL_TENS, plural)) return { text: `${century * 100 + PLURAL_TENS[plural]!}s`, end: i + 2 };
  return plural === 'hundreds' && century < 20 ? { text: `${century}00s`, end: i + 2 } : null;
}

/** "twenty four seven" at i, round the clock (24/7, with "three sixty five" 24/7/365), not the digits 247; a number
 * next to it makes it digits read in groups again ("one twenty four seven" -> 1247). */
function roundTheClockAt(w: readonly string[], i: number, afterNumber: boolean): { text: string; end: number } | null {
  if (afterNumber || w[i] !== 'twenty' || w[i + 1] !== 'four' || w[i + 2] !== 'seven') return null;
  const year = w[i + 3] === 'three' && w[i + 4] === 'sixty' && w[i + 5] === 'five';
  const end = year ? i + 6 : i + 3;
  const next = w[end];
  const numberNext = belowHundred(w, end) !== null || digitAt(w, end) || next === 'hundred' || has(SCALES, next);
  return numberNext ? null : { text: year ? '24/7/365' : '24/7', end };
}

/** "point five percent" at i -> 0.5% ("point nine nine dollars" -> $0.99): a decimal with no whole part, only before
 * a unit: "point five" alone may be item five of a list ("move on to point five"), and after a determiner "point" is
 * the noun ("at this point ..."). */
function leadingPointAt(w: readonly string[], i: number): { text: string; end: number } | null {
  if (w[i] !== 'point' || DETERMINERS.has(w[i - 1] ?? '')) return null;
  const frac = decimalDigits(w, i + 1);
  return frac === null ? null : unitAfter(w, frac.end, `0.${frac.digits}`);
}

/** "a dollar and fifty cents" at i -> $1.50: "a" is one before a singular currency only with cents after it, since
 * "a dollar" alone may be "a dollar amount". */
function aAmountAt(w: readonly string[], i: number): { text: string; end: number } | null {
  const u = w[i + 1];
  if (w[i] !== 'a' || !has(CURRENCIES, u) || PLURAL_CURRENCIES.has(u)) return null;
  const amount = unitAfter(w, i + 1, '1');
  return amount !== null && amount.end > i + 2 ? amount : null;
}

const isGroupPiece = (p: Piece | undefined): p is NumberPiece => p?.kind === 'number' && p.group;

/** The display text of `words` (lower-case words as the decoder spells them) with numbers as digits. */
export function formatNumerals(words: readonly string[]): string {
  const pieces: Piece[] = [];
  for (let i = 0; i < words.length;) {
    const last = pieces[pieces.length - 1];
    const afterNumber = last?.kind === 'number';
    const whole = timeAt(words, i) ?? decadeAt(words, i) ?? roundTheClockAt(words, i, afterNumber)
      ?? leadingPointAt(words, i) ?? aAmountAt(words, i);
    if (whole !== null) {
      pieces.push({ kind: 'number', text: whole.text, spelled: null, group: false, bare: false });
      i = whole.end;
      continue;
    }
    const n = readNumber(words, i, afterNumber);
    // after "hundred" or a scale that no number took, the numbers next to it are the tail of an amount not read ("a
    // couple hundred and fifty dollars" is about 250): their words stay words rather than become $50
    const scaleWord = last?.kind === 'word' && last.text === 'and' ? pieces[pieces.length - 2] : last;
    const afterScale = scaleWord?.kind === 'word' && (scaleWord.text === 'hundred' || has(SCALES, scaleWord.text));
    if (n === null || afterScale) {
      let end = i + 1;
      for (let m = n; m !== null; m = readNumber(words, end, true)) end = m.end;
      // the "oh" after a rejected "oh" opens a shorter run of the same words, rejected too: take them all now rather
      // than scan the rest of the run again for each (quadratic on a long run of them)
      if (n === null && words[i] === 'oh') while (words[end] === 'oh') end++;
      for (; i < end; i++) pieces.push({ kind: 'word', text: words[i]! });
      continue;
    }
    // a unit after digits read in groups takes them all ("twenty twenty one dollars" -> $2021, not 20 $21), up to a
    // lone digit, which is a count there ("two twenty dollar bills"), except before a plural currency ("four ninety
    // nine dollars" -> $499) where it is not "one" as a pronoun ("this one twenty dollars")
    // (only when a unit follows: looking back from every group would read a long run of them once per group)
    let first = pieces.length;
    if (n.piece.group && unitAfter(words, n.end, n.piece.text) !== null) {
      const joinsUnit = (p: Piece | undefined): boolean => isGroupPiece(p) && p.spelled === null;
      while (first > 0 && joinsUnit(pieces[first - 1])) first--;
      const lone = pieces[first - 1];
      const before = pieces[first - 2];
      const pronoun = before?.kind === 'word' && (DETERMINERS.has(before.text) || before.text === 'the');
      if (isGroupPiece(lone) && PLURAL_CURRENCIES.has(words[n.end] ?? '') && !pronoun) first--;
    }
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
