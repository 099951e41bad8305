import { createTestClock, describeRateLimitArithmetic, newNamespace } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { afterAll } from 'vitest';
import { migrate, PostgresRateLimitStore } from '../src/index.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

// The SQL of core's builders and the multi-policy function, run by PostgreSQL, against the reference on every case.
describeBackends(backends.slice(0, 1), (backend) => {
  const pool = new pg.Pool({ connectionString: backend.url, max: 4 });
  pool.on('error', () => {});
  const schema = newNamespace().slice(0, -1);
  let migrated: Promise<void> | undefined;
  afterAll(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  });
  const table = `"${schema}"."stowage_rate_limits"`;
  describeRateLimitArithmetic('stores-postgres', async () => {
    await (migrated ??= migrate(pool, { schema, components: ['rate_limits'] }));
    await pool.query(`TRUNCATE ${table}`);
    const clock = createTestClock();
    const store = new PostgresRateLimitStore({ pool, schema, clock });
    return {
      store,
      clock,
      seed: async (key, policy, c, expiresAt) => {
        await pool.query(`INSERT INTO ${table} (key, policy, mark, used, previous, expires_at, at) VALUES ($1, $2, $3, $4, $5, $6, 0)`, [
          key,
          policy.id,
          c.mark,
          c.used,
          c.previous,
          expiresAt,
        ]);
      },
      stored: async (key, policy) => {
        const sql = `SELECT mark::float8 AS mark, used::float8 AS used, previous::float8 AS previous FROM ${table}
          WHERE key = $1 AND policy = $2`;
        const { rows } = await pool.query(sql, [key, policy.id]);
        return rows[0];
      },
      close: () => store.close(),
    };
  });
});
