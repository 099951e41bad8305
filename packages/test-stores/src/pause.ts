import { once } from 'node:events';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { Redis } from 'ioredis';
import type pg from 'pg';

/** A pause in effect; `over` resolves once the backend answers again. */
export interface Pause {
  over: Promise<void>;
}

/**
 * Redis: a `BLPOP` of `ms` on the set's own connection, so Redis leaves every later command of
 * that connection unread until it ends. Only this connection waits (`CLIENT PAUSE` would also
 * stall the other test files running against a shared server); a replica in another process
 * is paused with a `HoldingProxy` instead.
 */
export async function pauseRedis(client: Redis, ms: number): Promise<Pause> {
  const over = client.blpop(`stowage-test-pause:${Math.random()}`, ms / 1000).then(() => undefined);
  await sleep(20); // the BLPOP has reached Redis: what follows waits behind it
  return { over };
}

/**
 * PostgreSQL: another connection holds `LOCK TABLE ... ACCESS EXCLUSIVE` on every table of
 * the schema for `ms`, in every process's way. The tables must exist (make a call first).
 */
export async function pausePostgres(pool: pg.Pool, schema: string, ms: number): Promise<Pause> {
  const admin = await pool.connect();
  try {
    await admin.query('BEGIN');
    const { rows } = await admin.query<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1', [schema]);
    if (rows.length === 0) throw new Error(`no tables in schema ${schema} yet: make one store call before pausing`);
    await admin.query(`LOCK TABLE ${rows.map((r) => `"${schema}"."${r.tablename}"`).join(', ')} IN ACCESS EXCLUSIVE MODE`);
  } catch (err) {
    admin.release(true);
    throw err;
  }
  const over = sleep(ms).then(async () => {
    await admin.query('COMMIT');
    admin.release();
  });
  return { over };
}

// Another connection in another thread, so it lets go on time even while the main thread is
// blocked in SQLite's busy wait.
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

/** SQLite: another connection holds the file's write lock (`BEGIN IMMEDIATE`) for `ms`. */
export async function pauseSqlite(file: string, ms: number): Promise<Pause> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(SQLITE_LOCK_HOLDER, { eval: true, workerData: { file, driver, ms } });
  const exited = once(worker, 'exit').then(() => undefined);
  const [message] = (await Promise.race([once(worker, 'message'), once(worker, 'error')])) as unknown[];
  if (message !== 'locked') throw new Error(`the SQLite lock holder failed: ${String(message)}`);
  return { over: exited };
}

/**
 * Runs `during` while `set`'s backend is paused for `ms`, then waits for the pause to end.
 * `answeredBeforeBack` says whether `during` had finished while the backend was still paused,
 * which a test of "answered within its limit" asserts.
 */
export async function whilePaused<T>(
  set: { pause(ms: number): Promise<Pause> },
  ms: number,
  during: () => Promise<T>,
): Promise<{ result: T; answeredBeforeBack: boolean }> {
  const pause = await set.pause(ms);
  let over = false;
  const overAt = pause.over.then(() => void (over = true));
  const result = await during();
  const answeredBeforeBack = !over;
  await overAt;
  return { result, answeredBeforeBack };
}
