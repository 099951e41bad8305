import { describeBackends, imagesForAppSuites, postgresBackends, redisBackends } from '@stowage/conformance/backends';
import { Redis } from 'ioredis';
import pg from 'pg';
import { expect, it } from 'vitest';
import { CliProcess } from './cli-process.js';
import { randomSuffix } from './helpers.js';

// The CLI's store lives where it is told: a PostgreSQL schema and table prefix of its own, a
// Redis key prefix of its own; nothing under the defaults (`public.stowage_*`, `stowage:`).

const text = (body: string, method = 'POST') => ({ method, headers: { 'Content-Type': 'text/plain' }, body });

describeBackends(await postgresBackends(imagesForAppSuites('postgres')), (backend) => {
  it('--schema and --table-prefix (and their variables): the tables are there, rows included', async () => {
    const pool = new pg.Pool({ connectionString: backend.url });
    const schema = `ds_cli_${randomSuffix()}`;
    const name = `s-${randomSuffix()}`;
    try {
      for (const [args, env] of [
        [['--schema', schema, '--table-prefix', 'app_'], {}],
        [[], { STOWAGE_SCHEMA: schema, STOWAGE_TABLE_PREFIX: 'app_' }],
      ] as const) {
        const p = new CliProcess(['--store', backend.url, '--quiet', ...args], env);
        try {
          const url = await p.url;
          const created = await fetch(`${url}/${name}`, text('a', 'PUT'));
          expect([200, 201]).toContain(created.status);
          expect((await fetch(`${url}/${name}`, text('b'))).status).toBe(204);
        } finally {
          expect(await p.stop()).toBe(0);
        }
      }
      const tables = await pool.query<{ table_name: string }>(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [schema],
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(['app_streams', 'app_stream_messages']));
      expect(tables.rows.every((r) => r.table_name.startsWith('app_'))).toBe(true);
      const rows = await pool.query(
        `SELECT count(*)::int AS n FROM "${schema}"."app_stream_messages" m
        JOIN "${schema}"."app_streams" s ON s.id = m.stream_id WHERE s.name = $1`,
        [name],
      );
      // Both runs on the same tables: a, b, then (the PUT finding the stream) b again.
      expect(rows.rows[0].n).toBe(3);
      // Not in the default place: no stream of that name in public.stowage_streams (if it exists at all).
      const inPublic = await pool.query(`SELECT to_regclass('public.stowage_streams') AS t`);
      if (inPublic.rows[0].t !== null) {
        expect((await pool.query('SELECT 1 FROM public.stowage_streams WHERE name = $1', [name])).rowCount).toBe(0);
      }
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });
});

describeBackends(await postgresBackends(imagesForAppSuites('postgres')), (backend) => {
  it('--read-cache (and STOWAGE_READ_CACHE) reaches the store: messages read once are not fetched again, 0 fetches each time', async () => {
    const pool = new pg.Pool({ connectionString: backend.url });
    const schema = `ds_cache_${randomSuffix()}`;
    try {
      for (const [args, env, cached] of [
        [[], {}, true],
        [['--read-cache', '0'], {}, false],
        [[], { STOWAGE_READ_CACHE: '0' }, false],
      ] as const) {
        const name = `s-${randomSuffix()}`;
        const p = new CliProcess(['--store', backend.url, '--schema', schema, '--quiet', ...args], env);
        try {
          const url = await p.url;
          expect((await fetch(`${url}/${name}`, text('first', 'PUT'))).status).toBe(201);
          expect(await (await fetch(`${url}/${name}?offset=-1`)).text()).toBe('first');
          // Behind the server's back: only a server that fetches the message again sees it.
          await pool.query(
            `UPDATE "${schema}"."stowage_stream_messages" m SET data = 'other' FROM "${schema}"."stowage_streams" s
             WHERE s.id = m.stream_id AND s.name = $1`,
            [name],
          );
          expect(await (await fetch(`${url}/${name}?offset=-1`)).text(), JSON.stringify({ args, env })).toBe(cached ? 'first' : 'other');
        } finally {
          expect(await p.stop()).toBe(0);
        }
      }
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    }
  });
});

describeBackends(await redisBackends(imagesForAppSuites('redis')), (backend) => {
  it('--key-prefix (and STOWAGE_KEY_PREFIX): keys only under it, and none left once the streams are deleted', async () => {
    const client = new Redis(backend.url);
    const prefix = `dscli:${randomSuffix()}:`;
    const keysUnder = async (match: string): Promise<string[]> => {
      const out: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
        cursor = next;
        out.push(...keys);
      } while (cursor !== '0');
      return out;
    };
    const names = [`a-${randomSuffix()}`, `b-${randomSuffix()}`];
    try {
      for (const [args, env] of [
        [['--key-prefix', prefix], {}],
        [[], { STOWAGE_KEY_PREFIX: prefix }],
      ] as const) {
        const p = new CliProcess(['--store', backend.url, '--quiet', ...args], env);
        try {
          const url = await p.url;
          for (const name of names) {
            expect([200, 201]).toContain((await fetch(`${url}/${name}`, text('x', 'PUT'))).status);
            expect((await fetch(`${url}/${name}`, text('y'))).status).toBe(204);
          }
          const keys = await keysUnder(`${prefix}*`);
          expect(keys.length).toBeGreaterThan(0);
          expect(keys).toContain(`${prefix}{streams}:m:${names[0]}`);
          // Under the default prefix: none of these streams.
          for (const name of names) expect(await client.exists(`stowage:{streams}:m:${name}`)).toBe(0);
          for (const name of names) expect((await fetch(`${url}/${name}`, { method: 'DELETE' })).status).toBe(204);
          expect(await keysUnder(`${prefix}*`)).toEqual([]);
        } finally {
          expect(await p.stop()).toBe(0);
        }
      }
    } finally {
      for (const key of await keysUnder(`${prefix}*`)) await client.del(key);
      client.disconnect();
    }
  });
});
