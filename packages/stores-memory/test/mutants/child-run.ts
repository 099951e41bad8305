import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RunOutcome } from './outcome.reporter.js';
import type { Mutant } from './wrap.js';

const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const config = join(import.meta.dirname, 'vitest.config.ts');
const reporter = join(import.meta.dirname, 'outcome.reporter.ts');

const literal = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The `-t` pattern of the shared run: every test, except that the tests of a mutant with `only`
 * run only where their full name matches it, as they did in that mutant's own run with `-t only`.
 * Full names start with the top-level suite's, `mutant <id> `.
 */
export function namePattern(mutants: Record<string, Mutant>): string | undefined {
  const filtered = Object.entries(mutants).filter(([, m]) => m.only !== undefined);
  if (filtered.length === 0) return undefined;
  const others = `^(?!mutant (?:${filtered.map(([id]) => literal(id)).join('|')}) )`;
  return [others, ...filtered.map(([id, m]) => `^(?=mutant ${literal(id)} )(?=.*?(?:${m.only}))`)].join('|');
}

/** Runs the shard fixtures (the control and every mutant) in one child vitest and reads its outcome. */
export async function runMutants(mutants: Record<string, Mutant>): Promise<RunOutcome> {
  const dir = await mkdtemp(join(tmpdir(), 'stowage-mutants-'));
  const report = join(dir, 'report.json');
  // The parent's VITEST_* variables would make the child think it is a worker of this run;
  // STOWAGE_MUTANT would make it run that one mutant alone.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'STOWAGE_MUTANT'));
  const pattern = namePattern(mutants);
  const args = [vitest, 'run', '--config', config, `--reporter=${reporter}`, ...(pattern === undefined ? [] : ['-t', pattern])];
  try {
    // Its exit code is not read: the mutants fail, so it is never 0; the outcome says whose tests failed.
    const stderr = await new Promise<string>((resolve) => {
      execFile(process.execPath, args, { env: { ...env, STOWAGE_MUTANT_REPORT: report } }, (_err, _stdout, stderr) => resolve(stderr));
    });
    const json = await readFile(report, 'utf8').catch((e: unknown) => {
      throw new Error(`the child vitest wrote no outcome; its stderr:\n${stderr}`, { cause: e });
    });
    return JSON.parse(json) as RunOutcome;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
