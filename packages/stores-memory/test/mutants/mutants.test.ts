import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MUTANTS } from './mutants.js';

// A mutation check of the conformance suite: each mutant is the memory store with one
// fault an adapter author could make; the suite must fail on it with a test whose name
// says what was caught. The control, the store unchanged, must pass in the same harness.

const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const config = join(import.meta.dirname, 'vitest.config.ts');

interface Outcome {
  exitCode: number;
  passed: string[];
  failed: string[];
}

interface JsonReport {
  testResults: { assertionResults: { fullName: string; status: string }[] }[];
}

/** Runs the fixture's suite for `mutant` in a child vitest and reads its JSON report. */
async function runSuite(mutant: string, only?: string): Promise<Outcome> {
  const dir = await mkdtemp(join(tmpdir(), 'stowage-mutant-'));
  const report = join(dir, 'report.json');
  // The parent's VITEST_* variables would make the child think it is a worker of this run.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  const args = [
    vitest,
    'run',
    '--config',
    config,
    '--reporter=json',
    `--outputFile=${report}`,
    ...(only === undefined ? [] : ['-t', only]),
  ];
  try {
    const exitCode = await new Promise<number>((resolve) => {
      execFile(process.execPath, args, { env: { ...env, STOWAGE_MUTANT: mutant } }, (err) => {
        resolve(err === null ? 0 : typeof err.code === 'number' ? err.code : 1);
      });
    });
    const json = JSON.parse(await readFile(report, 'utf8')) as JsonReport;
    const all = json.testResults.flatMap((f) => f.assertionResults);
    const names = (status: string) => all.filter((t) => t.status === status).map((t) => t.fullName);
    return { exitCode, passed: names('passed'), failed: names('failed') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe.concurrent('the conformance suite against deliberately wrong memory stores', { timeout: 120_000 }, () => {
  it('passes the unmodified memory stores (the control)', async () => {
    const { exitCode, passed, failed } = await runSuite('control');
    expect(failed).toEqual([]);
    expect(passed.length).toBeGreaterThan(100);
    expect(exitCode).toBe(0);
  });

  for (const [name, mutant] of Object.entries(MUTANTS)) {
    it(`catches ${name}: ${mutant.fault}`, async () => {
      const { exitCode, failed } = await runSuite(name, mutant.only);
      expect(exitCode).not.toBe(0);
      expect(
        failed.filter((t) => mutant.caughtBy.test(t)),
        `failing tests: ${failed.join('\n')}`,
      ).not.toEqual([]);
    });
  }
});
