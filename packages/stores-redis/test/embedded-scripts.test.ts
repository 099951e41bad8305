import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describeBackends, redisBackends } from '@stowage/conformance/backends';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';

// The Lua scripts are embedded at build time (scripts/embed-lua.mjs at the repository's root),
// so the built package reads no file when imported: it works bundled and under `sideEffects: false`.

interface Imported {
  tried: string[];
  error: string | null;
  scripts: { name: string; lua: string }[];
}

const fixture = join(import.meta.dirname, 'fixtures/import-without-reads.mjs');
const imported = JSON.parse(execFileSync(process.execPath, [fixture], { encoding: 'utf8' })) as Imported;

const sources = join(import.meta.dirname, '../src/scripts');
const luaFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.lua'))
    .map((f) => relative(sources, join(dir, f)));
const LIB = readFileSync(join(sources, 'lib.lua'), 'utf8');

describe('the built package (dist)', () => {
  it('reads no file when imported, and makes its scripts', () => {
    expect(imported).toMatchObject({ tried: [], error: null });
    // Every store's scripts: csrf, 2 idempotency, jwks, lock, 2 rate-limit, 11 session, stream.
    expect(imported.scripts.map((s) => s.name.replace(/_[0-9a-f]{12}$/, '')).sort()).toEqual(
      [
        'csrf',
        'idempotency_reserve',
        'idempotency_settle',
        'jwks',
        'lock',
        'rate_limit',
        'rate_limit_reset',
        'session_destroy',
        'session_destroy_owner',
        'session_due',
        'session_get',
        'session_prune',
        'session_put',
        'session_rotate',
        'session_set',
        'session_take',
        'session_touch',
        'session_unmark',
        'stream',
      ].map((n) => `stowage_${n}`),
    );
  });

  it('has each script as lib.lua then a non-empty body, named by its hash', () => {
    for (const { name, lua } of imported.scripts) {
      expect(lua.startsWith(`${LIB}\n`), name).toBe(true);
      expect(lua.slice(LIB.length).trim(), name).not.toBe('');
      expect(name.endsWith(createHash('sha1').update(lua).digest('hex').slice(0, 12)), name).toBe(true);
    }
  });

  it('embeds every .lua file of src/scripts, as it is there, in some script', () => {
    const files = luaFiles(sources).filter((f) => f !== 'lib.lua');
    expect(files.length).toBeGreaterThan(imported.scripts.length); // the stream script has parts
    for (const file of files) {
      const text = readFileSync(join(sources, file), 'utf8');
      expect(
        imported.scripts.some((s) => s.lua.includes(text)),
        file,
      ).toBe(true);
    }
  });

  it('has no Lua file of src/scripts over 400 lines', () => {
    for (const file of luaFiles(sources)) {
      expect(readFileSync(join(sources, file), 'utf8').split('\n').length, file).toBeLessThanOrEqual(400);
    }
  });
});

const backends = await redisBackends();
describeBackends(backends, ({ url }) => {
  const client = new Redis(url);
  afterAll(() => client.quit());

  it('compiles every script (SCRIPT LOAD), under the SHA-1 of its body', async () => {
    for (const { name, lua } of imported.scripts) {
      const sha = await client.script('LOAD', lua);
      expect(sha, name).toBe(createHash('sha1').update(lua).digest('hex'));
    }
    const shas = imported.scripts.map(({ lua }) => createHash('sha1').update(lua).digest('hex'));
    expect(await client.script('EXISTS', ...shas)).toEqual(shas.map(() => 1));
  });
});
