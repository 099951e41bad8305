// What the tarball tests share: npm, `npm pack`, and a vitest run read from its JSON report.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const packages = resolve(here, '../..');
export const root = resolve(packages, '..');

/** Runs npm in `cwd` and returns its stdout; a failure throws with npm's stderr. */
export const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });

/** `npm pack` of `packages/<name>` into `dest`: the tarball's path and the files it holds. */
export function pack(name: string, dest: string): { tarball: string; files: string[] } {
  const out = JSON.parse(npm(['pack', '--json', '--pack-destination', dest], join(packages, name))) as {
    filename: string;
    files: { path: string }[];
  }[];
  return { tarball: join(dest, out[0]!.filename), files: out[0]!.files.map((f) => f.path) };
}

/** The version of `name` installed in `project`. */
export const installedVersion = (project: string, name: string): string =>
  (JSON.parse(readFileSync(join(project, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

export interface VitestCounts {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
}

/**
 * `vitest run` of `project` with its own vitest, outside this run (none of its environment
 * variables), and the counts of its JSON report. vitest exits non-zero on failures; the report
 * says which, so only a run that wrote no report throws.
 */
export function runVitest(project: string): VitestCounts {
  const report = join(project, 'report.json');
  rmSync(report, { force: true });
  let output = '';
  try {
    output = execFileSync(join(project, 'node_modules/.bin/vitest'), ['run', '--reporter=json', `--outputFile=${report}`], {
      cwd: project,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CI: 'true', VITEST: undefined, VITEST_WORKER_ID: undefined, VITEST_POOL_ID: undefined },
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  try {
    return JSON.parse(readFileSync(report, 'utf8')) as VitestCounts;
  } catch {
    throw new Error(`vitest wrote no report in ${project}:\n${output.slice(-4000)}`);
  }
}
