import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { installedVersion, npm, pack, root, runVitest } from './npm-project.js';

const work = mkdtempSync(join(tmpdir(), 'stowage-pack-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * What a third-party adapter author does: install the published tarballs (not the
 * workspace) in a project of their own and run the suite from there.
 */
describe('the npm tarballs work outside the monorepo', () => {
  const tarballs: Record<string, string> = {};

  it('packs core, conformance and stores-memory with only dist, its sources, docs and package.json', () => {
    for (const name of ['core', 'conformance', 'stores-memory']) {
      const { tarball, files } = pack(name, work);
      expect(files).toContain('package.json');
      expect(files).toContain('dist/index.js');
      expect(files).toContain('dist/index.d.ts');
      // src/ ships because the source maps point to it.
      const known = ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE'];
      expect(files.filter((f) => !f.startsWith('dist/') && !f.startsWith('src/') && !known.includes(f))).toEqual([]);
      expect(files.filter((f) => f.endsWith('.tsbuildinfo'))).toEqual([]);
      tarballs[name] = tarball;
    }
  }, 120_000);

  it('installs them in a fresh project and runs the whole suite there, all green', () => {
    const project = join(work, 'my-adapter');
    mkdirSync(join(project, 'test'), { recursive: true });
    const vitestVersion = installedVersion(root, 'vitest');
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({
        name: 'my-adapter',
        private: true,
        type: 'module',
        dependencies: {
          '@stowage/core': `file:${tarballs.core}`,
          '@stowage/conformance': `file:${tarballs.conformance}`,
          '@stowage/stores-memory': `file:${tarballs['stores-memory']}`,
          vitest: vitestVersion,
        },
      }),
    );
    // An "adapter" of the author's own: it wraps the memory stores, as a real one would wrap a client.
    writeFileSync(
      join(project, 'test/adapter.test.js'),
      `import { describeConformance } from '@stowage/conformance';
import * as memory from '@stowage/stores-memory';
const streams = new Map();
describeConformance({
  name: 'my-adapter',
  // Memory stores: each instance holds its own state, so the replica races do not apply.
  sharedNamespace: false,
  sessions: (ctx) => new memory.MemorySessionStore({ clock: ctx.clock }),
  rateLimits: (ctx) => new memory.MemoryRateLimitStore({ clock: ctx.clock }),
  idempotency: (ctx) => new memory.MemoryIdempotencyStore({ clock: ctx.clock }),
  csrf: (ctx) => new memory.MemoryCsrfTokenStore({ clock: ctx.clock }),
  locks: (ctx) => new memory.MemoryLockStore({ clock: ctx.clock }),
  jwks: (ctx) => new memory.MemoryJwksCacheStore({ clock: ctx.clock }),
  streams: (ctx) => {
    if (!streams.has(ctx.namespace)) streams.set(ctx.namespace, new memory.MemoryStreamStore({ clock: ctx.clock }));
    return streams.get(ctx.namespace);
  },
});
`,
    );
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], project);
    const result = runVitest(project);
    expect(result.numFailedTests).toBe(0);
    expect(result.numPassedTests).toBe(result.numTotalTests);
    expect(result.numPassedTests).toBeGreaterThan(400);
  }, 300_000);
});
