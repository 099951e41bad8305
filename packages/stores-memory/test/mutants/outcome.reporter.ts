import { writeFileSync } from 'node:fs';
import type { Reporter, TestCase, TestModule, TestSuite } from 'vitest/node';

/** What the tests of one top-level suite (one mutant, or the control) did. */
export interface SuiteOutcome {
  /** Full names, the titles joined by spaces as `-t` matches them. */
  passed: string[];
  failed: string[];
  /** Errors of the suite's own hooks and of its nested suites' (outside any test). */
  errors: string[];
}

export interface RunOutcome {
  /** By top-level suite name (`mutant <id>`). */
  suites: Record<string, SuiteOutcome>;
  /** Errors outside every suite: unhandled, or a fixture file's own (collection). */
  errors: string[];
}

const text = (e: { message?: string; stack?: string }): string => e.stack ?? e.message ?? String(e);
const nameOf = (t: TestCase | TestSuite): string => (t.parent.type === 'module' ? t.name : `${nameOf(t.parent)} ${t.name}`);

/** The child run's reporter: writes a RunOutcome as JSON to the file STOWAGE_MUTANT_REPORT names. */
export default class OutcomeReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<{ message?: string; stack?: string }>): void {
    const run: RunOutcome = { suites: {}, errors: unhandled.map(text) };
    for (const module of modules) {
      run.errors.push(...module.errors().map(text));
      for (const suite of module.children.suites()) {
        const outcome = (run.suites[suite.name] ??= { passed: [], failed: [], errors: [] });
        for (const s of [suite, ...suite.children.allSuites()]) outcome.errors.push(...s.errors().map(text));
        for (const test of suite.children.allTests()) {
          const { state } = test.result();
          if (state === 'passed' || state === 'failed') outcome[state].push(nameOf(test));
        }
      }
    }
    const file = process.env['STOWAGE_MUTANT_REPORT'];
    if (file === undefined) throw new Error('STOWAGE_MUTANT_REPORT names no file');
    writeFileSync(file, JSON.stringify(run));
  }
}
