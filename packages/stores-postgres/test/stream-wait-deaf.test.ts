import type { BackgroundErrorContext } from '@stowage/core';
import { newNamespace } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { PostgresStreamStore } from '../src/index.js';

const backends = await postgresBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

/** Polls until `ready()` holds; the limit only ends a hung test, it measures nothing. */
async function until(ready: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 3000 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await ready()).toBe(true);
}

describeBackends(backends.slice(0, 1), (backend) => {
  // Two processes, simulated by two pools on one schema.
  const other = new pg.Pool({ connectionString: backend.url, max: 3 });
  other.on('error', () => {});
  afterAll(() => other.end());

  it('with its LISTEN connection killed, a waiter still wakes on another store’s append, the loss is reported, LISTEN comes back', async () => {
    const app = `stowage-deaf-${Math.random().toString(36).slice(2)}`;
    const pool = new pg.Pool({ connectionString: backend.url, max: 4, application_name: app });
    pool.on('error', () => {});
    const schema = newNamespace().slice(0, -1);
    const reports: { code: string; context: BackgroundErrorContext }[] = [];
    const waiter = new PostgresStreamStore({
      pool,
      schema,
      pollMs: 50,
      onError: (error, context) => reports.push({ code: error.code, context }),
    });
    const writer = new PostgresStreamStore({ pool: other, schema });
    const listeners = async () =>
      (await other.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, [app]))
        .rows[0].n as number;
    const { info } = await waiter.create('s', { contentType: 'text/plain' });
    // Far longer than the test: only a wake-up ends these waits with 'data'.
    const waiting = waiter.wait('s', info.nextOffset, 60_000);
    await until(async () => (await listeners()) === 1);
    await other.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, [app]);
    await until(() => reports.length >= 1);
    await writer.append('s', [Buffer.from('x')]);
    expect(await waiting).toBe('data');
    expect(reports[0]).toEqual({
      code: 'UNAVAILABLE',
      context: { operation: 'listen', store: '@stowage/stores-postgres PostgresStreamStore' },
    });
    // LISTEN is back, and a later append wakes a later wait through it.
    await until(async () => (await listeners()) === 1);
    const next = await waiter.read('s', '-1');
    const second = waiter.wait('s', next.nextOffset, 60_000);
    await writer.append('s', [Buffer.from('y')]);
    expect(await second).toBe('data');
    expect(await listeners()).toBe(1);
    await waiter.close();
    await writer.close();
    await other.query(`DROP SCHEMA "${schema}" CASCADE`);
    await pool.end();
  }, 120_000);

  it('refuses a pollMs that is not a positive integer', () => {
    for (const pollMs of [0, -1, 1.5, Number.NaN]) {
      expect(() => new PostgresStreamStore({ pool: other, schema: 'unused', pollMs })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });
});
