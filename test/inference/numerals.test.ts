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
    ['march third nineteen twenty eight', 'march third 1928'],
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
    ['ten pounds', '£10'],
    ['three euros', '€3'],
    ['nine point five percent', '9.5%'],
    // lone small numbers stay words
    ['no one is available', 'no one is available'],
    ['this one', 'this one'],
    ['first of all', 'first of all'],
    ['wait one second', 'wait one second'],
    ['the fifth of may', 'the fifth of may'],
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
