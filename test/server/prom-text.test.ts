/** The strict Prometheus text reader the /metrics tests use (prom-text.ts) refuses what a scraper would. */
import { describe, expect, it } from 'vitest';
import { parsePrometheusText, valueOf } from './prom-text.js';

const HISTOGRAM = '# HELP h_seconds A histogram.\n# TYPE h_seconds histogram\n'
  + 'h_seconds_bucket{le="0.1"} 1\nh_seconds_bucket{le="1"} 2\nh_seconds_bucket{le="+Inf"} 3\n'
  + 'h_seconds_sum 4.5\nh_seconds_count 3\n';

describe('parsePrometheusText', () => {
  it('reads families, escaped label values, special values and histograms', () => {
    const f = parsePrometheusText('# HELP c_total A \\\\ counter.\n# TYPE c_total counter\n'
      + 'c_total{code="a\\"b\\\\c\\nd",x="y"} 2\n# TYPE g gauge\ng NaN\ng{s="1"} +Inf\n' + HISTOGRAM);
    expect(f.get('c_total')!.samples[0]!.labels).toEqual({ code: 'a"b\\c\nd', x: 'y' });
    expect(valueOf(f, 'g', { s: '1' })).toBe(Infinity);
    expect(valueOf(f, 'h_seconds_count')).toBe(3);
    expect(f.get('h_seconds')!.type).toBe('histogram');
  });

  it.each([
    ['a TYPE after samples', '# TYPE g gauge\ng 1\n# TYPE g gauge\n'],
    ['a family split in two', '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n'],
    ['a series twice', 'g 1\ng 2\n'],
    ['a bad escape', 'g{a="\\t"} 1\n'],
    ['an unterminated label value', 'g{a="x} 1\n'],
    ['a bad label name', 'g{1a="x"} 1\n'],
    ['a negative counter', '# TYPE c counter\nc -1\n'],
    ['a bad value', 'g one\n'],
    ['no final newline', 'g 1'],
    ['buckets not cumulative', HISTOGRAM.replace('le="1"} 2', 'le="1"} 0')],
    ['+Inf not equal to _count', HISTOGRAM.replace('h_seconds_count 3', 'h_seconds_count 4')],
    ['no +Inf bucket', HISTOGRAM.replace('h_seconds_bucket{le="+Inf"} 3\n', '')],
    ['no _sum', HISTOGRAM.replace('h_seconds_sum 4.5\n', '')],
  ])('refuses %s', (_what, text) => {
    expect(() => parsePrometheusText(text)).toThrow();
  });
});
