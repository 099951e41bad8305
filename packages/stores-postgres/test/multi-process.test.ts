import { fork } from 'node:child_process';
import { join } from 'node:path';
import { newNamespace } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { migrate, PostgresCsrfTokenStore, PostgresStreamStore } from '../src/index.js';

const backends = await postgresBackends();
// Only the first backend runs these tests; stop every container started for the file.
afterAll(() => Promise.all(backends.map((b) => b.stop())));
const worker = join(import.meta.dirname, 'fixtures/worker.mjs');

describeBackends(backends.slice(0, 1), (backend) => {
  const pool = new pg.Pool({ connectionString: backend.url });
  pool.on('error', () => {});
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await pool.end();
  });
  const fresh = async (tables = true) => {
    const schema = newNamespace().slice(0, -1);
    schemas.push(schema);
    if (tables) await migrate(pool, { schema });
    return schema;
  };

  /** Starts `count` processes, releases them together, and collects their results. */
  async function race<T>(count: number, schema: string, task: string, extra = ''): Promise<T[]> {
    const children = Array.from({ length: count }, () =>
      fork(worker, [backend.url, schema, task, extra], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
    await Promise.all(children.map((c) => new Promise<void>((resolve) => c.once('message', () => resolve()))));
    const results = children.map(
      (c) =>
        new Promise<T>((resolve, reject) => {
          c.on('message', (m: { result?: T }) => m.result !== undefined && resolve(m.result));
          c.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
        }),
    );
    for (const c of children) c.send('go');
    return Promise.all(results);
  }

  it('4 processes: 1,000 consume calls against a limit of 100 admit exactly 100', async () => {
    const results = await race<{ allowed: number; errors: string[] }>(4, await fresh(), 'consume');
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(results.reduce((s, r) => s + r.allowed, 0)).toBe(100);
  }, 60_000);

  it('4 processes: 400 two-policy consume calls admit exactly the tighter limit, 50', async () => {
    const results = await race<{ allowed: number; errors: string[] }>(4, await fresh(), 'consumeMany');
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(results.reduce((s, r) => s + r.allowed, 0)).toBe(50);
  }, 60_000);

  it('4 processes: 200 reserve calls on one key give exactly one reserved', async () => {
    const results = await race<{ reserved: number; inFlight: number; errors: string[] }>(4, await fresh(), 'reserve');
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(results.reduce((s, r) => s + r.reserved, 0)).toBe(1);
    expect(results.reduce((s, r) => s + r.inFlight, 0)).toBe(199);
  }, 60_000);

  it('4 processes: a single-use CSRF token validates once', async () => {
    const schema = await fresh();
    const store = new PostgresCsrfTokenStore({ pool, schema });
    const token = await store.issue('session-1', { ttlMs: 60_000 });
    await store.close();
    const results = await race<{ valid: number; errors: string[] }>(4, schema, 'csrf', token);
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(results.reduce((s, r) => s + r.valid, 0)).toBe(1);
  }, 60_000);

  it('4 processes migrating one fresh schema at once all succeed (advisory lock)', async () => {
    const schema = await fresh(false);
    const results = await race<{ errors: string[] }>(4, schema, 'migrate');
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1`, [schema]);
    expect(rows[0].n).toBe(10);
  }, 60_000);

  it('a waiter in this process wakes when another process appends (LISTEN/NOTIFY)', async () => {
    const schema = await fresh();
    const store = new PostgresStreamStore({ pool, schema });
    const { info } = await store.create('shared-stream', { contentType: 'text/plain' });
    const started = Date.now();
    const waiting = store.wait('shared-stream', info.nextOffset, 20_000);
    await race(1, schema, 'append');
    expect(await waiting).toBe('data');
    expect(Date.now() - started).toBeLessThan(10_000);
    await store.close();
  }, 60_000);
});
