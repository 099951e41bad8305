import { createTestClock, newNamespace } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import type { RateLimitPolicy } from '@stowage/core';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { migrate, PostgresRateLimitStore, SCHEMA_VERSIONS } from '../src/index.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

/** A window start. */
const T = 1_800_000_000_000;

describeBackends(backends.slice(0, 1), (backend) => {
  const pool = new pg.Pool({ connectionString: backend.url, max: 4 });
  pool.on('error', () => {});
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await pool.end();
  });

  it('a version 2 schema gets the multi-policy function whose states live until their own end', async () => {
    const s = newNamespace().slice(0, -1);
    schemas.push(s);
    await migrate(pool, { schema: s });
    // Stand in for the function of version 2, which an upgrade must replace.
    await pool.query(
      `CREATE OR REPLACE FUNCTION "${s}"."stowage_rate_limit_consume"(
         p_key text, p_now bigint, p_ids text[], p_algs bigint[], p_lims bigint[], p_wins bigint[], p_caps bigint[], p_cost bigint)
       RETURNS TABLE (policy text, mark bigint, used bigint, previous bigint, now bigint)
       LANGUAGE plpgsql AS $fn$ BEGIN RAISE EXCEPTION 'the function of version 2'; END $fn$`,
    );
    await pool.query(`UPDATE "${s}".stowage_schema_version SET version = 2 WHERE component = 'rate_limits'`);

    const clock = createTestClock(T);
    const store = new PostgresRateLimitStore({ pool, schema: s, clock });
    try {
      const both: RateLimitPolicy[] = [
        { algorithm: 'sliding-window', limit: 4, windowMs: 1000 },
        { algorithm: 'gcra', limit: 4, windowMs: 1000 },
      ];
      expect(await store.consume('k', both)).toMatchObject({ allowed: true });
      clock.set(T - 1000);
      expect(await store.consume('k', both, { cost: 3 })).toMatchObject({ allowed: true, remaining: 0 });
      clock.set(T + 750);
      expect(await store.peek('k', both)).toMatchObject({ allowed: false, resetMs: 1001 });
      clock.set(T + 1750);
      expect(await store.consume('k', both, { cost: 4 })).toMatchObject({ allowed: false });
      clock.set(T + 1751);
      expect(await store.consume('k', both, { cost: 4 })).toMatchObject({ allowed: true, remaining: 0 });
      const { rows } = await pool.query(`SELECT version FROM "${s}".stowage_schema_version WHERE component = 'rate_limits'`);
      expect(rows[0].version).toBe(SCHEMA_VERSIONS.rate_limits);
      expect(SCHEMA_VERSIONS.rate_limits).toBe(4);
    } finally {
      await store.close();
    }
  });

  it('a version 3 schema gets the multi-policy function that knows the anchored window', async () => {
    const s = newNamespace().slice(0, -1);
    schemas.push(s);
    await migrate(pool, { schema: s });
    // Stand in for the function of version 3, which an upgrade must replace.
    await pool.query(
      `CREATE OR REPLACE FUNCTION "${s}"."stowage_rate_limit_consume"(
         p_key text, p_now bigint, p_ids text[], p_algs bigint[], p_lims bigint[], p_wins bigint[], p_caps bigint[], p_cost bigint)
       RETURNS TABLE (policy text, mark bigint, used bigint, previous bigint, now bigint)
       LANGUAGE plpgsql AS $fn$ BEGIN RAISE EXCEPTION 'the function of version 3'; END $fn$`,
    );
    await pool.query(`UPDATE "${s}".stowage_schema_version SET version = 3 WHERE component = 'rate_limits'`);
    const clock = createTestClock(T + 7);
    const store = new PostgresRateLimitStore({ pool, schema: s, clock });
    try {
      const both: RateLimitPolicy[] = [
        { algorithm: 'anchored-window', limit: 10, windowMs: 1000, threshold: 1, onExceed: 'backoff' },
        { algorithm: 'fixed-window', limit: 10, windowMs: 1000 },
      ];
      expect(await store.consume('k', both)).toMatchObject({ allowed: true, remaining: 9 });
      expect(await store.peek('k', both[0]!)).toMatchObject({ remaining: 9, resetMs: 1000 });
      clock.advance(100);
      await store.consume('k', both);
      await store.consume('k', both);
      expect(await store.peek('k', both[0]!)).toMatchObject({ remaining: 7, resetMs: 2000 });
    } finally {
      await store.close();
    }
  });
});
