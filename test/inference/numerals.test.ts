import { describe, expect, it } from 'vitest';
import { formatNumerals } from '../../src/inference/numerals.js';

const fmt = (text: string): string => formatNumerals(text.split(' ').filter(Boolean));

describe('formatNumerals', () => {
  it.each([
    // digit strings
    ['my pin is four oh seven two', 'my pin is 4072'],
    ['call five five five oh one two three', 'call 5550123'],
    ['double seven triple nine', '77999'],
    // one repeated digit is a digit string too (docs/protocol.md formatted_text: `double seven` -> `77`)
    ['double seven', '77'],
    ['room triple five please', 'room 555 please'],
    ['double seven eight hundred', '77 800'],
    ['one eight hundred', '1 800'],
    ['one eight hundred five five five', '1 800 555'],
    ['eight hundred five dollars', '$805'],
    ['zero zero', '00'],
    // digits read in groups join up
    ['march third nineteen twenty eight', 'march 3rd 1928'],
    ['fifty one fifty six', '5156'],
    ['five five five twelve thirty four', '5551234'],
    ['twenty twenty four', '2024'],
    ['one twenty', '120'],
    ['enter eight twenty seven', 'enter 827'],
    ['four twenty eight seventy one', '42871'],
    ['twenty five dollars thirty', '$25 30'],
    ['three hundred twelve', '312'],
    // clock times (only with a m / p m: "three thirty" alone may be a code)
    ['at three thirty p m', 'at 3:30 pm'],
    ['nine oh five a m please', '9:05 am please'],
    ['ten pm', '10 pm'],
    ['twelve fifteen am', '12:15 am'],
    ['thirteen p m', '13 p m'],
    ['nine a m b', 'nine a m b'],
    ['three thirty', '330'],
    // cardinals
    ['twenty five', '25'],
    ['three hundred and twelve', '312'],
    ['twelve hundred dollars', '$1200'],
    ['a hundred', '100'],
    ['a thousand and five', '1005'],
    ['two thousand five hundred', '2500'],
    ['two million five hundred thousand', '2500000'],
    ['one hundred thousand', '100000'],
    ['nineteen', '19'],
    ['ten minutes', '10 minutes'],
    // ordinals
    ['the twenty first of may', 'the 21st of may'],
    ['the tenth floor', 'the 10th floor'],
    ['on the twenty third', 'on the 23rd'],
    ['the one hundredth caller', 'the 100th caller'],
    ['a thousandth', '1000th'],
    ['eleventh twelfth thirteenth', '11th 12th 13th'],
    // decimals, percent, currency
    ['three point one four', '3.14'],
    ['ten percent', '10%'],
    ['twenty dollars', '$20'],
    ['five dollars and fifty cents', '$5.50'],
    ['one dollar and five cents', '$1.05'],
    ['five cents', '5 cents'],
    // pence are a unit as cents are ("fifty pence" was 50 pence, "five pence" stayed words)
    ['five pence', '5 pence'],
    ['it costs nine pence please', 'it costs 9 pence please'],
    ['point five pence', '0.5 pence'],
    ['ten pounds', '£10'],
    ['three euros', '€3'],
    ['nine point five percent', '9.5%'],
    // lone small numbers stay words
    ['no one is available', 'no one is available'],
    ['this one', 'this one'],
    ['first of all', 'first of all'],
    ['wait one second', 'wait one second'],
    ['the fifth of may', 'the 5th of may'],
    ['nine one one', '911'],
    ['seven hundred seven', '707'],
    ['five hundred and', '500 and'],
    ['one thousand one hundred', '1100'],
    ['double oh seven', '007'],
    ['two oh one', '201'],
    ['press one for sales', 'press one for sales'],
    ['one', 'one'],
    // ... unless a unit or another number stands next to them
    ['one dollar', '$1'],
    ['five percent', '5%'],
    // words that look like numbers but are not
    ['oh no', 'oh no'],
    ['double check', 'double check'],
    ['a lot', 'a lot'],
    ['and then', 'and then'],
    ['hundred', 'hundred'],
    ['point of view', 'point of view'],
    ['thousand island', 'thousand island'],
    ['dollars', 'dollars'],
    ['', ''],
    // a lone digit stays a word beside an ordinal, a clock time or an amount: those are whole quantities already
    ['the tenth one', 'the 10th one'],
    ['i want the twenty first one', 'i want the 21st one'],
    ['at ten a m one customer called', 'at 10 am one customer called'],
    ['twenty dollars one time', '$20 one time'],
    ['ten percent one', '10% one'],
    // "oh" opening a short run is the interjection ("oh, one more thing"); after a number, or in a longer run, a 0
    ['oh one more thing', 'oh one more thing'],
    ['oh oh i forgot', 'oh oh i forgot'],
    ['oh two of them', 'oh two of them'],
    ['oh oh oh', 'oh oh oh'],
    ['oh oh seven', '007'],
    ['oh one two three', '0123'],
    ['nineteen oh five', '1905'],
    ['room two oh one', 'room 201'],
    ['three point oh five', '3.05'],
    // a unit takes the whole number read in groups, not only its last group
    ['twenty twenty one dollars', '$2021'],
    ['nineteen ninety nine dollars', '$1999'],
    ['twelve fifty dollars and ten cents', '$1250.10'],
    ['it is twelve fifty dollars', 'it is $1250'],
    // ... but a lone digit before an amount is a count
    ['two twenty dollar bills', 'two $20 bills'],
    ['one fifty dollar bill', 'one $50 bill'],
    // "oh" is a decimal digit too
    ['ten point oh', '10.0'],
    ['version two point oh', 'version 2.0'],
    // a scale word ends a cardinal when the group after it needs a scale as large: two numbers, not 2003 thousand
    ['two thousand three thousand dollars', '2000 $3000'],
    ['two thousand and three thousand', '2000 and 3000'],
    ['one billion two billion', '1000000000 2000000000'],
    ['one million two thousand three million', '1002000 3000000'],
    // "zero" after "hundred" or a scale adds nothing to it: it is a digit of what follows, never dropped
    ['two thousand zero', '2000 0'],
    ['two thousand zero one', '2000 01'],
    ['one million zero zero', '1000000 00'],
    ['one hundred zero', '100 0'],
    ['one hundred and zero', '100 and zero'],
    ['two thousand and zero', '2000 and zero'],
    // "double" / "triple" spell digits only before one: "double check" makes no digit string of the number before it
    ['one hundred one double check', '101 double check'],
    ['i was charged eight hundred five double charged', 'i was charged 805 double charged'],
    ['room one hundred oh five double check', 'room 105 double check'],
    ['two thousand oh five triple checked', '2005 triple checked'],
    ['we are open twenty four seven double check', 'we are open 24/7 double check'],
    ['five hundred five double seven', '500 577'],
  ])('%j -> %j', (input, expected) => {
    expect(fmt(input)).toBe(expected);
  });

  it.each([
    // a decade or century after a year-like prefix (1800s to 2000s), not a count of them; bare "the eighties" is a word
    ['nineteen nineties', '1990s'],
    ['music from the nineteen fifties', 'music from the 1950s'],
    ['the nineteen hundreds', 'the 1900s'],
    ['eighteen eighties', '1880s'],
    ['in the twenty twenties', 'in the 2020s'],
    ['the twenty tens', 'the 2010s'],
    ['the eighties', 'the eighties'],
    ['constructor nineties', 'constructor nineties'],
    // ... other numbers before a plural count banknotes, and so does "twenty" without "the" ($20 bills)
    ['ten twenties', '10 twenties'],
    ['twenty twenties please', '20 twenties please'],
    ['fifteen fifties', '15 fifties'],
    // "hundred" with no number before it stays a word, and so does the number after it: it is the tail of an amount
    // not read ("a couple hundred and fifty" is about 250, not 50)
    ['hundred and five', 'hundred and five'],
    ['a couple hundred and fifty dollars', 'a couple hundred and fifty dollars'],
    ['hundred fifty five dollars', 'hundred fifty five dollars'],
    ['a few thousand five hundred dollars', 'a few thousand five hundred dollars'],
    ['a couple thousand one seven sixty', 'a couple thousand one seven sixty'],
    ['hundreds of calls', 'hundreds of calls'],
    ['a hundred and five', '105'],
    // "oh" and one digit after "hundred" or a scale are its last digits (room and flight numbers, years)
    ['one hundred oh one', '101'],
    ['room five hundred oh five', 'room 505'],
    ['a hundred oh one', '101'],
    ['two thousand oh five', '2005'],
    ['nineteen hundred oh five', '1905'],
    ['eight hundred oh five five five', '800 0555'],
    // a decimal with no whole part before a percent; "point five" alone may be item five of a list
    ['point five percent', '0.5%'],
    ['rates went up point oh five percent', 'rates went up 0.05%'],
    ['point two five percent', '0.25%'],
    ['move on to point five', 'move on to point five'],
    ['at this point five percent of calls drop', 'at this point 5% of calls drop'],
    // "and a half" ends a number; other fractions stay words ("a quarter" is also a coin, "a quarter past nine" a time)
    ['two and a half', '2.5'],
    ['two and a half percent', '2.5%'],
    ['five and a half dollars', '$5.50'],
    ['one and a half hours', '1.5 hours'],
    ['a million and a half dollars', '$1500000'],
    ['one half', 'one half'],
    ['a half', 'a half'],
    ['three quarters', 'three quarters'],
    ['two thirds', 'two thirds'],
    ['a quarter past nine', 'a quarter past nine'],
    ['two and a quarter', 'two and a quarter'],
    ['half a million dollars', 'half a million dollars'],
    ['a quarter of a million dollars', 'a quarter of a million dollars'],
    // a number before "hundred" heads the next group, not the tail of this one
    ['five hundred and five hundred', '500 and 500'],
    ['one hundred two hundred', '100 200'],
    // cents without "and"; an amount with one decimal digit is written with two
    ['two dollars fifty cents', '$2.50'],
    ['two point five dollars', '$2.50'],
    // round the clock, not the digits 247
    ['we are open twenty four seven', 'we are open 24/7'],
    ['twenty four seven three sixty five', '24/7/365'],
    ['twenty four seven three', '2473'],
    ['one twenty four seven', '1247'],
    // customer-service readings that were already right
    ['eight hundred five five five one two one two', '800 5551212'],
    ['a hundred and twenty dollars', '$120'],
    ['two thousand and five', '2005'],
    ['may twenty first twenty twenty four', 'may 21st 2024'],
  ])('%j -> %j', (input, expected) => {
    expect(fmt(input)).toBe(expected);
  });

  it.each([
    // a plural currency takes the lone digit before the groups too: it names the amount, not a count of bills
    ['four ninety nine dollars', '$499'],
    ['it was one fifty dollars', 'it was $150'],
    ['one ninety nine pounds', '£199'],
    // ... unless "one" is a pronoun after a determiner ("this one", "which one")
    ['i will take this one twenty dollars', 'i will take this one $20'],
    ['the one fifty dollars', 'the one $50'],
    // "a" is one before a currency with cents; "a dollar" alone may be "a dollar amount", and stays a word
    ['a dollar and fifty cents', '$1.50'],
    ['a dollar fifty cents', '$1.50'],
    ['a pound and five pence', '£1.05'],
    ['it costs a euro and ten cents', 'it costs €1.10'],
    ['a dollar amount', 'a dollar amount'],
    ['a dollar', 'a dollar'],
    // a decimal with no whole part before a currency, as before "percent"
    ['point nine nine dollars', '$0.99'],
    ['point five cents', '0.5 cents'],
    ['at this point nine dollars', 'at this point $9'],
    // "thanks a million" thanks, it counts nothing
    ['thanks a million', 'thanks a million'],
    ['thank you a million', 'thank you a million'],
    ['a million thanks', 'a million thanks'],
    ['a million dollars thanks', '$1000000 thanks'],
    // a part of the day after hour and minutes marks a clock time as "a m" / "p m" do; an hour alone with one may
    // be a count ("i have one in the afternoon")
    ['at four thirty in the morning', 'at 4:30 in the morning'],
    ['ten fifteen in the afternoon', '10:15 in the afternoon'],
    ['eight oh nine in the evening', '8:09 in the evening'],
    ['at eleven forty five at night', 'at 11:45 at night'],
    ['i have one in the afternoon', 'i have one in the afternoon'],
    ['ten in the morning', '10 in the morning'],
    ['thirteen thirty in the morning', '1330 in the morning'],
    // "first" .. "ninth" next to a month's name is its day, written as "twenty first" is (march 21st)
    ['march third', 'march 3rd'],
    ['my date of birth is may second nineteen sixty five', 'my date of birth is may 2nd 1965'],
    ['on may first', 'on may 1st'],
    ['the appointment is on august first at two fifteen p m', 'the appointment is on august 1st at 2:15 pm'],
    ['june the second', 'june the 2nd'],
    ['the third of march', 'the 3rd of march'],
    ['i was charged five dollars on the eighth of december', 'i was charged $5 on the 8th of december'],
    // ... but "may" is also the verb: its day needs a date's preposition before it or a year after it
    ['you may first need to reset it', 'you may first need to reset it'],
    ['i may second that', 'i may second that'],
    ['may first', 'may first'],
    ['march on', 'march on'],
    ['the first of all', 'the first of all'],
  ])('%j -> %j', (input, expected) => {
    expect(fmt(input)).toBe(expected);
  });

  it('never loses or invents a word that is not part of a number', () => {
    const vocabulary: string[] = ['one', 'two', 'five', 'oh', 'double', 'twenty', 'hundred', 'thousand', 'and', 'a', 'point',
      'dollars', 'cents', 'percent', 'first', 'the', 'account', 'please'];
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let n = 0; n < 2000; n++) {
      const words = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => vocabulary[Math.floor(rand() * vocabulary.length)]!);
      const out = formatNumerals(words);
      const kept = out.split(' ').filter((w) => /^[a-z]+$/.test(w));
      const isPlain = (w: string): boolean => w === 'the' || w === 'account' || w === 'please';
      expect(kept.filter(isPlain), words.join(' ')).toEqual(words.filter(isPlain));
      expect(out, words.join(' ')).not.toMatch(/NaN|undefined|Infinity/);
    }
  });
});

describe('formatNumerals on long finals', () => {
  // a final can be minutes of speech; the rewrite must take time linear in its words. Quadratic scans took seconds on
  // these 20,000 words (against milliseconds), so the bound below is far from both on any machine.
  const timed = (words: string[]): { out: string; ms: number } => {
    const t0 = performance.now();
    const out = formatNumerals(words);
    return { out, ms: performance.now() - t0 };
  };
  const cycle = (pattern: string[], n: number): string[] =>
    Array.from({ length: n }, (_, i) => pattern[i % pattern.length]!);

  it('a long run of "oh" (each one opens a run that is not a number) is read once, not once per word', () => {
    const { out, ms } = timed(cycle(['oh'], 20_000));
    expect(out).toBe(cycle(['oh'], 20_000).join(' '));
    expect(ms).toBeLessThan(1000);
  });

  it('a long run of numbers read in groups is read once, not once per group', () => {
    const { out, ms } = timed(cycle(['twenty'], 20_000));
    expect(out).toBe('20'.repeat(20_000));
    expect(ms).toBeLessThan(1000);
    // ... and a unit at its end still takes the whole run
    expect(timed([...cycle(['nineteen'], 20_000), 'dollars']).out).toBe(`$${'19'.repeat(20_000)}`);
  });
});
