import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 60_000,
    // vitest's default (one fork fewer than the cores) runs the files one at a time on a 2-core machine, yet most of
    // a file's time is spent waiting on real time (servers, child processes, audio paced to the clock), not
    // computing: two forks took the suite from 601 s to 330-384 s on the development machine (session 29)
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
