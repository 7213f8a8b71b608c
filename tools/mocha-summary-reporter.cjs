// Mocha's spec reporter, plus a plain closing line "N passed, N failed, N skipped" that any CI reads.
'use strict';
const Mocha = require('mocha');

class SpecWithSummary extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const s = runner.stats;
      const line = `${s.passes} passed, ${s.failures} failed, ${s.pending} skipped`;
      process.stdout.write(`\n${line}\n`);
      // CI repeats it as the very last line, after the coverage summary (TEST_SUMMARY_FILE, see .ci/run).
      if (process.env.TEST_SUMMARY_FILE) require('node:fs').writeFileSync(process.env.TEST_SUMMARY_FILE, line + '\n');
    });
  }
}

module.exports = SpecWithSummary;
