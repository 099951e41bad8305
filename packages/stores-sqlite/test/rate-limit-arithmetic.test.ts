import { createTestClock, describeRateLimitArithmetic, newNamespace } from '@stowage/conformance';
import Database from 'better-sqlite3';
import { migrate, SqliteRateLimitStore } from '../src/index.js';

// The SQL of core's builders, run by SQLite, against the reference on every case.
describeRateLimitArithmetic('stores-sqlite', async () => {
  const db = new Database(':memory:');
  const tablePrefix = newNamespace();
  migrate(db, { tablePrefix, components: ['rate_limits'] });
  const table = `${tablePrefix}rate_limits`;
  const clock = createTestClock();
  const store = new SqliteRateLimitStore({ database: db, tablePrefix, clock });
  const insert = db.prepare(`INSERT INTO ${table} (key, policy, mark, used, previous, expires_at, at) VALUES (?, ?, ?, ?, ?, ?, 0)`);
  const select = db.prepare(`SELECT mark, used, previous FROM ${table} WHERE key = ? AND policy = ?`);
  return {
    store,
    clock,
    seed: async (key, policy, c, expiresAt) => void insert.run(key, policy.id, c.mark, c.used, c.previous, expiresAt),
    stored: async (key, policy) => select.get(key, policy.id) as never,
    close: async () => {
      await store.close();
      db.close();
    },
  };
});
