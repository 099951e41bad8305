import { createTestClock } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import type { RateLimitPolicy } from '@stowage/core';
import { afterAll, expect, it } from 'vitest';
import { migrate, PostgresRateLimitStore, SCHEMA_VERSIONS } from '../src/index.js';
import { schemaPool } from './schema-pool.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

/** A window start. */
const T = 1_800_000_000_000;

describeBackends(backends.slice(0, 1), (backend) => {
  const { pool, fresh } = schemaPool(backend.url);

  /** Makes schema `s` look like `version` of rate_limits: its multi-policy function, which an upgrade must replace. */
  async function standInForVersion(s: string, version: number): Promise<void> {
    await pool.query(
      `CREATE OR REPLACE FUNCTION "${s}"."stowage_rate_limit_consume"(
         p_key text, p_now bigint, p_ids text[], p_algs bigint[], p_lims bigint[], p_wins bigint[], p_caps bigint[], p_cost bigint)
       RETURNS TABLE (policy text, mark bigint, used bigint, previous bigint, now bigint)
       LANGUAGE plpgsql AS $fn$ BEGIN RAISE EXCEPTION 'the function of version ${version}'; END $fn$`,
    );
    await pool.query(`UPDATE "${s}".stowage_schema_version SET version = $1 WHERE component = 'rate_limits'`, [version]);
  }

  it('a version 2 schema gets the multi-policy function whose states live until their own end', async () => {
    const s = fresh();
    await migrate(pool, { schema: s });
    await standInForVersion(s, 2);

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
    const s = fresh();
    await migrate(pool, { schema: s });
    await standInForVersion(s, 3);
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
