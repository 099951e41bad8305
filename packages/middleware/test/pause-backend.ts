// Test helper: makes the real backend behind a test-stores store stop answering for a while.
// Memory has no backend to pause (its calls run to their end synchronously).
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { BackendName } from '@stowage/test-stores';

interface PgClientLike {
  query(sql: string, params?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  release(): void;
}

/** A pause in effect; `over` resolves once the backend answers again. */
export interface Pause {
  over: Promise<void>;
}

// The lock holder of a SQLite file: another connection, in another thread, so that it lets
// go on time even while the main thread is blocked in SQLite's busy wait.
const SQLITE_LOCK_HOLDER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.exec('BEGIN IMMEDIATE');
parentPort.postMessage('locked');
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, workerData.ms);
db.exec('COMMIT');
db.close();
`;

/**
 * Pauses the backend of `store` (a store made by a test-stores set) for `ms`, and resolves
 * once the pause is in effect:
 * - Redis: a `BLPOP` of `ms` on the store's own connection, so Redis leaves every later
 *   command of that connection unread until it ends (only this store's connection waits;
 *   `CLIENT PAUSE ALL` would also stall the other test files running against the server);
 * - PostgreSQL: another connection holds `LOCK TABLE ... ACCESS EXCLUSIVE` on every table
 *   of the store's schema (the namespace) in a transaction;
 * - SQLite: another connection (in a worker thread) holds `BEGIN IMMEDIATE` on the file.
 */
export async function pauseBackend(kind: BackendName, store: object, ms: number): Promise<Pause> {
  const inside = store as Record<string, unknown>;
  if (kind === 'redis') {
    const client = inside['client'] as { blpop(key: string, timeoutSeconds: number): Promise<unknown> };
    const over = client.blpop(`stowage-test-pause:${Math.random()}`, ms / 1000).then(() => undefined);
    await sleep(20); // the BLPOP has reached Redis: what follows waits behind it
    return { over };
  }
  if (kind === 'postgres') {
    const pool = inside['pool'] as { connect(): Promise<PgClientLike> };
    const schema = (inside['t'] as { schema: string }).schema;
    const admin = await pool.connect();
    await admin.query('BEGIN');
    const { rows } = await admin.query('SELECT tablename FROM pg_tables WHERE schemaname = $1', [schema]);
    if (rows.length === 0) throw new Error(`no tables in schema ${schema} yet: make one store call before pausing`);
    await admin.query(`LOCK TABLE ${rows.map((r) => `"${schema}"."${String(r['tablename'])}"`).join(', ')} IN ACCESS EXCLUSIVE MODE`);
    const over = sleep(ms).then(async () => {
      await admin.query('COMMIT');
      admin.release();
    });
    return { over };
  }
  if (kind === 'sqlite') {
    const file = (inside['db'] as { name: string }).name;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(SQLITE_LOCK_HOLDER, { eval: true, workerData: { file, driver, ms } });
    const exited = once(worker, 'exit').then(() => undefined);
    const [message] = (await Promise.race([once(worker, 'message'), once(worker, 'error')])) as unknown[];
    if (message !== 'locked') throw new Error(`the SQLite lock holder failed: ${String(message)}`);
    return { over: exited };
  }
  throw new Error(`${kind} has no backend to pause`);
}
