import { beforeAll, describe, expect, it } from 'vitest';
import { runMutants } from './child-run.js';
import { MUTANTS } from './mutants.js';
import type { RunOutcome, SuiteOutcome } from './outcome.reporter.js';

// A mutation check of the conformance suite: each mutant is the memory store with one
// fault an adapter author could make; the suite must fail on it with a test whose name
// says what was caught. The control, the store unchanged, must pass in the same harness.
// All of them run in one child vitest (see shards.ts), each in its own `mutant <id>` suite.

describe('the conformance suite against deliberately wrong memory stores', () => {
  let run: RunOutcome;
  // A limit that ends a hung child run, not a measurement.
  beforeAll(async () => {
    run = await runMutants(MUTANTS);
  }, 600_000);
  const outcome = (id: string): SuiteOutcome => run.suites[`mutant ${id}`] ?? { passed: [], failed: [], errors: [] };

  it('passes the unmodified memory stores (the control)', () => {
    const { passed, failed, errors } = outcome('control');
    expect(failed).toEqual([]);
    expect(errors).toEqual([]);
    // What the control's own run would have exited non-zero on: an error outside any test,
    // which no mutant can be told apart by, so the shared run may have none.
    expect(run.errors).toEqual([]);
    expect(passed.length).toBeGreaterThan(100);
  });

  for (const [name, mutant] of Object.entries(MUTANTS)) {
    it(`catches ${name}: ${mutant.fault}`, () => {
      const { failed } = outcome(name);
      expect(
        failed.filter((t) => mutant.caughtBy.test(t)),
        `failing tests: ${failed.join('\n')}`,
      ).not.toEqual([]);
    });
  }
});
