import { describe, expect, it } from 'vitest';
import { rssPerAddedSession } from '../../bench/bench-report.js';

const run = (sessions: number, baseMb: number, peakMb: number) =>
  ({ sessions, rss_mb_baseline: baseMb, rss_mb_peak: peakMb });

describe('rssPerAddedSession', () => {
  it('is the growth per added session between consecutive N: the fixed warm-up growth cancels', () => {
    // 100 MB allocated once by the first inferences plus 2 MB per session: (peak - idle) / N says 4 and 3 MB
    const runs = [run(100, 250, 250 + 100 + 200), run(50, 260, 260 + 100 + 100), run(200, 255, 255 + 100 + 400)];
    expect(rssPerAddedSession(runs)).toEqual([{ from: 50, to: 100, mb: 2 }, { from: 100, to: 200, mb: 2 }]);
  });

  it('skips runs without RSS figures and a repeated N', () => {
    expect(rssPerAddedSession([run(50, 250, 400), { sessions: 100 }, run(50, 250, 400)])).toEqual([]);
  });
});
