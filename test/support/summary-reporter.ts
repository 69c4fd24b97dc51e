// Prints the run's plain closing line, "N passed, N failed, N skipped", after vitest's own summary,
// for tools that read a run's last lines rather than its exit code. A file that failed by itself
// (it did not load, or a beforeAll hook threw and its tests were skipped) counts as one failure,
// and so does each unhandled error: the line never reads "0 failed" for a red run.
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const count = { passed: 0, failed: 0, skipped: 0 };
    for (const module of testModules) {
      let failedHere = 0;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed' || state === 'failed' || state === 'skipped') count[state]++;
        if (state === 'failed') failedHere++;
      }
      if (module.state() === 'failed' && failedHere === 0) count.failed++;
    }
    count.failed += unhandledErrors.length;
    process.stdout.write(`\n${count.passed} passed, ${count.failed} failed, ${count.skipped} skipped\n`);
  }
}
