/**
 * Prints one plain closing line, `N passed, N failed` (plus `, N skipped`), after vitest's own report, so CI systems
 * that read a runner-neutral summary line see the test counts. A test file that fails to load counts as one failure.
 */
import type { Reporter } from 'vitest/reporters';

type Task = { type: string; mode?: string; result?: { state?: string }; tasks?: Task[] };

export default class SummaryReporter implements Reporter {
  onFinished(files: Task[] = [], errors: unknown[] = []): void {
    let passed = 0, failed = errors.length, skipped = 0;
    const visit = (t: Task): void => {
      if (t.type === 'test') {
        const state = t.result?.state;
        if (state === 'pass') passed++;
        else if (state === 'fail') failed++;
        else skipped++;
      }
      t.tasks?.forEach(visit);
    };
    for (const f of files) {
      const before = passed + failed + skipped;
      visit(f);
      if (passed + failed + skipped === before && f.result?.state === 'fail') failed++;
    }
    process.stdout.write(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`);
  }
}
