import type { BackgroundErrorContext } from '@stowage/core';
import { createTestClock } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import { afterAll, afterEach, expect, it, vi } from 'vitest';
import { migrate, PostgresSessionStore } from '../src/index.js';
import { schemaPool } from './schema-pool.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));
afterEach(() => vi.restoreAllMocks());

const STORE = '@stowage/stores-postgres PostgresSessionStore';
const SESSION = 'secret-session-id';

/** Polls until `ready()` holds; the limit only ends a hung test, it measures nothing. */
async function until(ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 2000 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await ready()).toBe(true);
}

describeBackends(backends.slice(0, 1), (backend) => {
  const { pool, fresh } = schemaPool(backend.url);

  /** A background store whose schema is dropped under it: every prune then fails on the server. */
  async function droppedUnder(onError?: (error: { code: string }, context: BackgroundErrorContext) => void) {
    const s = fresh();
    const clock = createTestClock();
    await migrate(pool, { schema: s });
    const store = new PostgresSessionStore({ pool, schema: s, clock, pruneIntervalMs: 20, ...(onError && { onError }) });
    await store.set(SESSION, Buffer.from('x'), { ttlMs: 10 });
    clock.advance(10);
    await pool.query(`DROP SCHEMA "${s}" CASCADE`);
    const count = async () => (await pool.query(`SELECT count(*)::int AS n FROM "${s}".stowage_sessions`)).rows[0].n as number;
    return { s, clock, store, count };
  }

  it('reports each failed background prune with its code, and the next tick prunes once the tables are back', async () => {
    const reports: { code: string; context: BackgroundErrorContext }[] = [];
    const { s, clock, store, count } = await droppedUnder((error, context) => reports.push({ code: error.code, context }));
    await until(() => reports.length >= 2);
    expect(reports[0]).toEqual({ code: 'INTERNAL', context: { operation: 'prune', store: STORE } });
    await migrate(pool, { schema: s });
    await store.set('later', Buffer.from('y'), { ttlMs: 10 });
    expect([...((await store.get('later'))?.data ?? [])]).toEqual([0x79]);
    clock.advance(10);
    await until(async () => (await count()) === 0);
    await store.close();
  });

  it('by default logs one line naming the store, the operation and the code, never the session id', async () => {
    const lines: unknown[][] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void lines.push(args));
    const { store } = await droppedUnder();
    await until(() => lines.length >= 1);
    await store.close();
    for (const args of lines) {
      expect(args).toHaveLength(1);
      expect(args[0]).toMatch(new RegExp(`^${STORE}: background prune failed: INTERNAL: unexpected PostgreSQL error: `));
      expect(args[0]).not.toMatch(/\n/);
      expect(args[0]).not.toContain(SESSION);
    }
  });

  it('an onError that throws does not stop the timer: the default line says so', async () => {
    const lines: unknown[][] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void lines.push(args));
    let calls = 0;
    const { store } = await droppedUnder(() => {
      calls++;
      throw new Error('boom');
    });
    await until(() => calls >= 2 && lines.length >= 2);
    await store.close();
    expect(lines[0]).toEqual([
      expect.stringMatching(new RegExp(`^${STORE}: background prune failed \\(and onError threw: boom\\): INTERNAL: `)),
    ]);
  });

  it('close() waits for the prune in flight: its failure is reported before close resolves, and nothing after', async () => {
    const s = fresh();
    await migrate(pool, { schema: s });
    const events: string[] = [];
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`LOCK TABLE "${s}".stowage_sessions IN ACCESS EXCLUSIVE MODE`);
      // A minute per statement, so that only the lock ends the prune's wait.
      const store = new PostgresSessionStore({
        pool,
        schema: s,
        migrate: false,
        statementTimeoutMs: 60_000,
        pruneIntervalMs: 20,
        onError: (error) => void events.push(`report ${error.code}`),
      });
      const waiting = `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query LIKE '%${s}%'`;
      await until(async () => (await pool.query(waiting)).rows[0].n === 1);
      const closed = store.close().then(() => void events.push('closed'));
      await holder.query(`DROP SCHEMA "${s}" CASCADE`);
      await holder.query('COMMIT');
      await closed;
      await new Promise((r) => setTimeout(r, 100)); // five ticks' worth: none runs
      expect(events).toEqual([expect.stringMatching(/^report [A-Z_]+$/), 'closed']);
    } finally {
      holder.release();
    }
  });

  it('refuses an onError that is not a function', () => {
    expect(() => new PostgresSessionStore({ pool, onError: 42 as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('options.onError must be a function') }),
    );
  });
});
