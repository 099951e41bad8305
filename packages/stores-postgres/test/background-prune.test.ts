// The background prune on a backend that stops answering: one prune at a time waits on it,
// so the pool's connections stay free for the application's calls (a prune per tick would
// each take one, and hold them all once the backend answers).
import { setTimeout as sleep } from 'node:timers/promises';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { PostgresSessionStore } from '../src/index.js';
import { schemaPool } from './schema-pool.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

describeBackends(backends.slice(0, 1), (backend) => {
  const { pool, fresh } = schemaPool(backend.url);

  it('a locked table holds one background prune, never one per tick; the next ticks prune once it is free', async () => {
    const schema = fresh();
    const store = new PostgresSessionStore({ pool, schema, pruneIntervalMs: 10 });
    const holder = new pg.Client({ connectionString: backend.url });
    await holder.connect();
    try {
      await store.set('s', Buffer.from('x'), { ttlMs: 60_000 }); // the tables exist
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE "${schema}".stowage_sessions IN ACCESS EXCLUSIVE MODE`);
      await sleep(500); // about 50 ticks
      const { rows } = await holder.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = '"${schema}".stowage_sessions'::regclass`,
      );
      expect(rows[0]!.n).toBe(1);
      expect(pool.waitingCount).toBe(0);
      await holder.query('COMMIT');
      await store.set('gone', Buffer.from('y'), { ttlMs: 1 });
      const rowsLeft = async () =>
        (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".stowage_sessions`)).rows[0]!.n;
      for (let i = 0; i < 500 && (await rowsLeft()) > 1; i++) await sleep(10);
      expect(await rowsLeft()).toBe(1); // the live session stays
    } finally {
      await holder.end();
      await store.close();
    }
  });
});
