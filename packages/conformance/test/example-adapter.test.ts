import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedVersion, npm, pack, root, runVitest } from './npm-project.js';

const work = mkdtempSync(join(tmpdir(), 'stowage-example-'));
const project = join(work, 'adapter-map');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '../package.json'), 'utf8')) as {
  peerDependencies: Record<string, string>;
};

/**
 * The vitest versions the peer range `^3.2.1 || ^4.1.12` claims, each installed as an author
 * would (`npm install -D vitest@<spec>`): the oldest it allows, the newest 3.x and the newest
 * 4.x. `npm ls` fails on a version outside the peer range, so each run checks the range too.
 */
const VITEST: readonly { spec: string; least: string; major: number }[] = [
  { spec: '^4.1.12', least: '4.1.12', major: 4 },
  // The floor is 3.2.1: 3.2.0's own declarations make a side-effect import of a file without
  // types, which noUncheckedSideEffectImports refuses with skipLibCheck off.
  { spec: '3.2.1', least: '3.2.1', major: 3 },
  { spec: '^3.2.1', least: '3.2.1', major: 3 },
];

/** `a` minus `b` as versions `x.y.z` (a prerelease counts as its release). */
function compare(a: string, b: string): number {
  const [x, y] = [a, b].map((v) => v.split(/[.-]/).slice(0, 3).map(Number)) as [number[], number[]];
  return x[0]! - y[0]! || x[1]! - y[1]! || x[2]! - y[2]!;
}

const install = (args: string[]) => npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...args], project);

/**
 * examples/adapter-map as an adapter author outside the repository has it: copied out, with
 * `@stowage/core` and `@stowage/conformance` from their `npm pack` tarballs, type-checked under
 * its own strictest tsconfig, and its conformance run on each vitest version the peer range claims.
 */
describe('examples/adapter-map from the npm tarballs', () => {
  let passed = 0;

  beforeAll(() => {
    cpSync(join(root, 'examples/adapter-map'), project, {
      recursive: true,
      filter: (src) => !src.includes('node_modules') && !src.endsWith('report.json'),
    });
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as Record<string, Record<string, string>>;
    pkg['dependencies']!['@stowage/core'] = `file:${pack('core', work).tarball}`;
    pkg['devDependencies']!['@stowage/conformance'] = `file:${pack('conformance', work).tarball}`;
    writeFileSync(join(project, 'package.json'), JSON.stringify(pkg, null, 2));
    install([]);
  }, 240_000);

  it('the peer range is the one these runs test', () => {
    expect(manifest.peerDependencies['vitest']).toBe('^3.2.1 || ^4.1.12');
  });

  for (const { spec, least, major } of VITEST) {
    it(`vitest@${spec}: type-checks with the strictest settings, then every test passes`, () => {
      if (spec !== VITEST[0]!.spec) install(['-D', `vitest@${spec}`]);
      const version = installedVersion(project, 'vitest');
      expect(Number(version.split('.')[0]), `vitest@${spec} installed ${version}`).toBe(major);
      expect(compare(version, least), `vitest@${spec} installed ${version}`).toBeGreaterThanOrEqual(0);
      if (spec === least) expect(version).toBe(least);
      // npm ls exits non-zero (ELSPROBLEMS) when the installed vitest is outside the peer range.
      npm(['ls', 'vitest', '@stowage/conformance'], project);

      // The consumer type test: the tarballs' .d.ts, vitest's and Node's, skipLibCheck off.
      const tsconfig = JSON.parse(readFileSync(join(project, 'tsconfig.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as {
        compilerOptions: Record<string, unknown>;
      };
      expect(tsconfig.compilerOptions).toMatchObject({ strict: true, exactOptionalPropertyTypes: true, skipLibCheck: false });
      try {
        execFileSync(join(project, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json', '--noEmit'], {
          cwd: project,
          encoding: 'utf8',
        });
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string };
        expect.fail(`tsc --noEmit failed with vitest ${version}:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      }

      const result = runVitest(project);
      expect(result.numFailedTests, `vitest ${version}: failed tests`).toBe(0);
      expect(result.numPendingTests + result.numTodoTests, `vitest ${version}: skipped tests`).toBe(0);
      expect(result.numPassedTests, `vitest ${version}: passed of ${result.numTotalTests}`).toBe(result.numTotalTests);
      expect(result.numPassedTests).toBeGreaterThan(0);
      // Every version runs the same suite: the same tests, all of them.
      if (passed > 0) expect(result.numPassedTests, `vitest ${version}: tests run`).toBe(passed);
      passed = result.numPassedTests;
      console.log(`examples/adapter-map on vitest ${version}: ${passed} passed, 0 failed`);
    }, 240_000);
  }
});
