import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { expect, it } from 'vitest';
import { PostgresSessionStore, PostgresStreamStore } from '../src/index.js';
import { schemaPool } from './schema-pool.js';

// health() answers whether the store's tables would take a write now, not only whether the
// server answers: `SELECT 1` passes a read-only server and a locked table, appends do not.

const backends = await postgresBackends();

describeBackends(backends.slice(0, 1), (backend) => {
  const { pool, fresh } = schemaPool(backend.url);

  it('not ok in a read-only transaction mode (a hot standby answers the same), ok on a writable pool', async () => {
    const schema = fresh();
    const writable = new PostgresStreamStore({ pool, schema });
    expect(await writable.health()).toEqual({ ok: true, latencyMs: expect.any(Number) });
    const readOnly = new pg.Pool({ connectionString: backend.url, max: 2, options: '-c default_transaction_read_only=on' });
    readOnly.on('error', () => {});
    const store = new PostgresStreamStore({ pool: readOnly, schema, migrate: false });
    try {
      // The server answers reads on that pool: only the write probe tells.
      expect((await readOnly.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect(await store.health({ timeoutMs: 5000 })).toEqual({
        ok: false,
        latencyMs: expect.any(Number),
        error: 'cannot execute DELETE in a read-only transaction',
      });
      await expect(store.create('s', { contentType: 'text/plain' })).rejects.toThrow(/read-only transaction/);
    } finally {
      await store.close();
      await readOnly.end();
      await writable.close();
    }
  });

  it('not ok while another session holds a lock that blocks writers, ok once it is released', async () => {
    const schema = fresh();
    const store = new PostgresSessionStore({ pool, schema });
    expect(await store.health()).toEqual({ ok: true, latencyMs: expect.any(Number) });
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      // SHARE mode lets readers in and keeps every insert, update and delete out.
      await holder.query(`LOCK TABLE "${schema}"."stowage_sessions" IN SHARE MODE`);
      expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}"."stowage_sessions"`)).rows).toEqual([{ n: 0 }]);
      const locked = await store.health({ timeoutMs: 500 });
      expect(locked).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.any(String) });
      // PostgreSQL gave up its wait too (lock_timeout): nothing stays queued behind the lock.
      let waiting = -1;
      for (let i = 0; i < 100 && waiting !== 0; i++) {
        const { rows } = await pool.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
          [`%DELETE FROM "${schema}".%`],
        );
        waiting = rows[0].n;
        if (waiting !== 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(waiting).toBe(0);
      await holder.query('COMMIT');
      expect(await store.health({ timeoutMs: 5000 })).toEqual({ ok: true, latencyMs: expect.any(Number) });
      expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}"."stowage_sessions"`)).rows).toEqual([{ n: 0 }]);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      holder.release();
      await store.close();
    }
  });
});
