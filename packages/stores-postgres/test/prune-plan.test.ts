import { createTestClock } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import type pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import {
  migrate,
  PostgresCsrfTokenStore,
  PostgresIdempotencyStore,
  PostgresJwksCacheStore,
  PostgresLockStore,
  PostgresRateLimitStore,
  PostgresSessionStore,
  type PostgresStoreOptions,
} from '../src/index.js';
import { schemaPool } from './schema-pool.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

const LIVE = 100_000;
const EXPIRED = 2_500;
const BATCH = 1_000;

/** Each contract's table, and a row of it whose expiry is `$1` and key is built from `$2` (`g`). */
const tables: { name: string; open: (o: PostgresStoreOptions) => { prune(): Promise<number>; close(): Promise<void> }; row: string }[] = [
  { name: 'sessions', open: (o) => new PostgresSessionStore(o), row: `(id, data, version, expires_at) SELECT 'k' || g, '\\x00', 1, $1` },
  {
    name: 'rate_limits',
    open: (o) => new PostgresRateLimitStore(o),
    row: `(key, policy, mark, used, previous, expires_at, at) SELECT 'k' || g, 'p', 0, 1, 0, $1, 0`,
  },
  {
    name: 'idempotency',
    open: (o) => new PostgresIdempotencyStore(o),
    row: `(scope, key, fingerprint, expires_at) SELECT 's', 'k' || g, 'f', $1`,
  },
  { name: 'csrf_tokens', open: (o) => new PostgresCsrfTokenStore(o), row: `(hash, session_id, expires_at) SELECT 'k' || g, 's', $1` },
  { name: 'locks', open: (o) => new PostgresLockStore(o), row: `(name, token, fence, expires_at) SELECT 'k' || g, 't', 1, $1` },
  { name: 'jwks', open: (o) => new PostgresJwksCacheStore(o), row: `(uri, jwks, fetched_at, expires_at) SELECT 'k' || g, '{}', 0, $1` },
];

describeBackends(backends.slice(0, 1), (backend) => {
  const { pool, fresh } = schemaPool(backend.url);

  /** The plan of a prepared statement, generic or custom, as one text. */
  async function plan(client: pg.PoolClient, text: string, mode: 'force_generic_plan' | 'force_custom_plan', now: number): Promise<string> {
    await client.query(`SET plan_cache_mode = ${mode}`);
    await client.query(`PREPARE batch(bigint, bigint, text, boolean) AS ${text}`);
    try {
      const { rows } = await client.query(`EXPLAIN EXECUTE batch(${now}, ${BATCH}, 'stowage:test', true)`);
      return rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
    } finally {
      await client.query('DEALLOCATE batch');
      await client.query('RESET plan_cache_mode');
    }
  }

  for (const table of tables) {
    it(`prunes ${table.name} through its expiry index on a table never analysed`, async () => {
      const s = fresh();
      await migrate(pool, { schema: s });
      const t = `"${s}".stowage_${table.name}`;
      // No statistics at all: autovacuum must not analyse the table behind the test's back.
      await pool.query(`ALTER TABLE ${t} SET (autovacuum_enabled = false)`);
      const now = 10_000_000;
      await pool.query(`INSERT INTO ${t} ${table.row.replace('$1', '$1::bigint')} FROM generate_series(1, $2::int) g`, [now * 2, LIVE]);
      await pool.query(
        `INSERT INTO ${t} ${table.row.replace('$1', `(${now} - g)`).replace(`'k' || g`, `'e' || g`)} FROM generate_series(1, $1::int) g`,
        [EXPIRED],
      );
      const analysed = await pool.query(`SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relid = $1::regclass`, [t]);
      expect(analysed.rows[0]).toEqual({ last_analyze: null, last_autoanalyze: null });

      const clock = createTestClock(now);
      const store = table.open({ pool, schema: s, clock, pruneBatchSize: BATCH });
      const [sql] = (store as unknown as { pruneSql(): { text: string }[] }).pruneSql();
      const client = await pool.connect();
      try {
        for (const mode of ['force_generic_plan', 'force_custom_plan'] as const) {
          const p = await plan(client, sql!.text, mode, now);
          expect(p, `${mode}:\n${p}`).toMatch(new RegExp(`Index (Only )?Scan using stowage_${table.name}_(held_)?expires_at`));
          expect(p, `${mode}:\n${p}`).toContain('Tid Scan');
          expect(p, `${mode}:\n${p}`).not.toContain('Seq Scan');
          expect(p, `${mode}:\n${p}`).not.toContain('Bitmap');
        }
      } finally {
        client.release();
      }
      // And the plan deletes exactly the expired rows (a lock keeps its row, without token).
      expect(await store.prune()).toBe(EXPIRED);
      const left =
        table.name === 'locks' ? `SELECT count(*)::int AS n FROM ${t} WHERE token IS NOT NULL` : `SELECT count(*)::int AS n FROM ${t}`;
      expect((await pool.query(left)).rows[0].n).toBe(LIVE);
      expect(await store.prune()).toBe(0);
      await store.close();
    });
  }
});
