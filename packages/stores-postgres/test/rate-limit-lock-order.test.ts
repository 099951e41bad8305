import { newNamespace } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import { postgresDialect, rateLimitSingleSql } from '@stowage/core/adapter-kit';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { migrate, PostgresRateLimitStore } from '../src/index.js';

const backends = await postgresBackends();
// Only the first backend runs this test; stop every container started for the file.
afterAll(() => Promise.all(backends.map((b) => b.stop())));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A consume reads the server's clock when its statement starts, then may wait for the key's
 * row lock while another call that read the clock later decides and writes. Deciding at its own
 * earlier reading, it saw a window that started after its "now" and announced a reset past the
 * window's length (seen as `x-ratelimit-reset: 61` for a 60 s window under 40 racing requests).
 * Time at a key must not go back: it decides at the later of its reading and the row's last.
 */
describeBackends(backends.slice(0, 1), (backend) => {
  const pool = new pg.Pool({ connectionString: backend.url, max: 4 });
  pool.on('error', () => {});
  afterAll(() => pool.end());

  it('a consume that waited on the row lock behind a later decision announces no reset past its window', async () => {
    const schema = newNamespace().slice(0, -1);
    await migrate(pool, { schema });
    const table = `"${schema}"."stowage_rate_limits"`;
    const limits = new PostgresRateLimitStore({ pool, schema });
    const policy = { algorithm: 'anchored-window', limit: 10, windowMs: 60_000 } as const;
    await limits.consume('k', policy);
    // The window is over: the next call starts a new one at its own time.
    await pool.query(`UPDATE ${table} SET expires_at = 0`);
    const [row] = (await pool.query(`SELECT key, policy FROM ${table}`)).rows as Array<{ key: string; policy: string }>;

    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM ${table} FOR UPDATE`);
      const waiting = limits.consume('k', policy); // reads the clock now, then waits for the lock
      await sleep(300);
      // Another replica's call, 300 ms later on the same clock, starts the new window and commits.
      const sql = rateLimitSingleSql(postgresDialect, table, 'anchored-window:keep');
      const other = await holder.query(sql, [row!.key, null, row!.policy, 10, 60_000, 10, 1]);
      expect(other.rowCount).toBe(1);
      await holder.query('COMMIT');
      const decision = await waiting;
      expect(decision.allowed).toBe(true);
      expect(decision.remaining).toBe(8);
      expect(decision.resetMs).toBeLessThanOrEqual(60_000);
    } finally {
      holder.release();
      await limits.close();
    }
  });
});
