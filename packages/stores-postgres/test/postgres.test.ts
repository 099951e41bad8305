import { createTestClock } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import type pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { migrate, PostgresLockStore, PostgresRateLimitStore, PostgresSessionStore, schema, SCHEMA_VERSIONS } from '../src/index.js';
import { schemaPool } from './schema-pool.js';

const backends = await postgresBackends();
// Only the first backend runs these tests; stop every container started for the file.
afterAll(() => Promise.all(backends.map((b) => b.stop())));

describeBackends(backends.slice(0, 1), (backend) => {
  const { pool, fresh } = schemaPool(backend.url);

  it('exports its DDL, migrates idempotently and records each component version', async () => {
    const ddl = schema({ schema: 'app', tablePrefix: 'x_' });
    expect(ddl.sessions.join('\n')).toContain('CREATE TABLE IF NOT EXISTS "app"."x_sessions"');
    expect(ddl.rate_limits.join('\n')).toContain('FUNCTION "app"."x_rate_limit_consume"');
    const s = fresh();
    await migrate(pool, { schema: s });
    await migrate(pool, { schema: s });
    const { rows } = await pool.query(`SELECT component, version FROM "${s}".stowage_schema_version ORDER BY component`);
    expect(Object.fromEntries(rows.map((r) => [r.component, r.version]))).toEqual(SCHEMA_VERSIONS);
  });

  it('indexes every expiry column', async () => {
    const s = fresh();
    await migrate(pool, { schema: s });
    const { rows } = await pool.query(
      `SELECT t.relname AS table, a.attname AS column FROM pg_index i
       JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) WHERE n.nspname = $1`,
      [s],
    );
    const indexed = new Set(rows.map((r) => `${r.table}.${r.column}`));
    for (const t of ['sessions', 'rate_limits', 'idempotency', 'csrf_tokens', 'locks', 'jwks'])
      expect(indexed).toContain(`stowage_${t}.expires_at`);
    expect(indexed).toContain('stowage_streams.deadline');
  });

  it('unlogged makes the store tables UNLOGGED, and back', async () => {
    const s = fresh();
    const persistence = async () =>
      (
        await pool.query(
          'SELECT relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace ' +
            "WHERE nspname = $1 AND relname = 'stowage_rate_limits'",
          [s],
        )
      ).rows[0]?.relpersistence;
    const fast = new PostgresRateLimitStore({ pool, schema: s, unlogged: true });
    await fast.peek('k', { algorithm: 'gcra', limit: 1, windowMs: 1000 });
    expect(await persistence()).toBe('u');
    await migrate(pool, { schema: s, components: ['rate_limits'] });
    expect(await persistence()).toBe('p');
    await fast.close();
  });

  it('uses named prepared statements: one plan per statement, reused', async () => {
    const s = fresh();
    const store = new PostgresSessionStore({ pool, schema: s });
    for (let i = 0; i < 20; i++) await store.set(`s${i}`, Buffer.from([i]), { ttlMs: 60_000 });
    const client = await pool.connect();
    try {
      const prepared = new PostgresSessionStore({
        pool: { query: client.query.bind(client) } as unknown as pg.Pool,
        schema: s,
        migrate: false,
      });
      const names = async () =>
        (await client.query(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'stowage_%'`)).rows.map((r) => r.name);
      const before = await names();
      for (let i = 0; i < 10; i++) await prepared.get(`s${i}`);
      const after = await names();
      // Ten gets prepared one statement on this connection (at most; it may have been there).
      expect(after.length - before.length).toBeLessThanOrEqual(1);
      expect(new Set(after).size).toBe(after.length);
      expect(after.length).toBeGreaterThan(0);
    } finally {
      client.release();
    }
    await store.close();
  });

  it('background prune: only the replica holding the advisory lock deletes', async () => {
    const s = fresh();
    const clock = createTestClock();
    const store = new PostgresSessionStore({ pool, schema: s, clock });
    for (let i = 0; i < 20; i++) await store.set(`old${i}`, Buffer.from('x'), { ttlMs: 1000 });
    clock.advance(1000);
    // Another replica is pruning: hold the same lock the prune statement takes.
    const holder = await pool.connect();
    await holder.query('BEGIN');
    const lockName = (store as unknown as { pruneSql(): { name: string }[] }).pruneSql()[0]!.name;
    await holder.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`stowage:prune:${lockName}`]);
    const background = new PostgresSessionStore({ pool, schema: s, clock, pruneIntervalMs: 20 });
    await new Promise((r) => setTimeout(r, 150));
    const count = async () => (await pool.query(`SELECT count(*)::int AS n FROM "${s}".stowage_sessions`)).rows[0].n;
    expect(await count()).toBe(20);
    await holder.query('COMMIT');
    holder.release();
    // The background prune deletes on a later tick: wait for it (the limit only ends a hung test).
    for (let waited = 0; waited < 5000 && (await count()) !== 0; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect(await count()).toBe(0);
    await background.close();
    await store.close();
  });

  it('lock fences survive prune', async () => {
    const s = fresh();
    const clock = createTestClock();
    const locks = new PostgresLockStore({ pool, schema: s, clock });
    const a = (await locks.acquire('job', { ttlMs: 1000 }))!;
    clock.advance(1000);
    expect(await locks.prune()).toBe(1);
    const b = (await locks.acquire('job', { ttlMs: 1000 }))!;
    expect(b.fence).toBe(a.fence + 1);
    await locks.close();
  });
});
