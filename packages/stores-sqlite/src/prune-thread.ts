import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';

/**
 * The worker's source. It is evaluated rather than loaded from a file so that it runs the
 * same from the package's `dist` and from its TypeScript sources under a test runner; it
 * loads the driver the store resolved (`better-sqlite3`, the application's copy).
 */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.filename, { fileMustExist: true, readonly: workerData.readonly });
if (workerData.configure) db.pragma('synchronous = NORMAL');
const prepared = new Map();
let busyMs = -1;
parentPort.on('message', ({ id, statements, at, batch, busyTimeoutMs }) => {
  try {
    if (busyTimeoutMs !== busyMs) db.pragma('busy_timeout = ' + (busyMs = busyTimeoutMs));
    let total = 0;
    for (const sql of statements) {
      let statement = prepared.get(sql);
      if (statement === undefined) prepared.set(sql, (statement = db.prepare(sql)));
      for (;;) {
        const changes = statement.run(at, batch).changes;
        total += changes;
        if (changes < batch) break;
      }
    }
    parentPort.postMessage({ id, total });
  } catch (err) {
    parentPort.postMessage({ id, error: { code: err && err.code, message: String((err && err.message) || err) } });
  }
});
`;

/** A failure inside the worker, carrying the driver's code (`SQLITE_BUSY`, ...) for the store's error mapping. */
export class PruneThreadError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'PruneThreadError';
  }
}

interface Waiting {
  resolve(total: number): void;
  reject(err: unknown): void;
}

/** One prune request: the store's statements (bound: the time, then the batch size) and its settings. */
export interface PruneRequest {
  statements: string[];
  at: number;
  batch: number;
  busyTimeoutMs: number;
}

const threads = new WeakMap<Database, PruneThread>();

/** The connection's main file as SQLite resolved it when it opened (absolute: a later `chdir` does not move it). */
function fileOf(db: Database): string {
  const main = (db.pragma('database_list') as { name: string; file: string }[]).find((d) => d.name === 'main');
  return main?.file || db.name;
}

/**
 * A worker thread with its own connection to a store's database file, where `prune()` runs when
 * `pruneInWorker` is set: its batches then never hold the event loop. One per `Database`, shared
 * by the stores on it, started on first use and stopped when the last of them closes; unref'd, so
 * it never keeps a process alive. A request is answered once all its batches ran.
 */
export class PruneThread {
  private worker: Worker | undefined;
  private users = 0;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  private constructor(
    private readonly filename: string,
    private readonly readonly: boolean,
    private readonly configure: boolean,
  ) {}

  /**
   * The thread of `db`'s file, counted as used by one more store (see {@link release}).
   * `configure`: set `synchronous = NORMAL` on the worker's connection, as the stores do on theirs.
   */
  static acquire(db: Database, configure: boolean): PruneThread {
    let thread = threads.get(db);
    if (thread === undefined) threads.set(db, (thread = new PruneThread(fileOf(db), db.readonly, configure)));
    thread.users++;
    return thread;
  }

  /** One store fewer; the last one stops the worker (requests still waiting are refused). */
  release(): void {
    if (--this.users > 0) return;
    const worker = this.worker;
    this.worker = undefined;
    this.fail(new PruneThreadError('the store is closed', undefined));
    void worker?.terminate();
  }

  run(request: PruneRequest): Promise<number> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      // Referenced while a request waits, so the process does not exit under an awaited prune;
      // unreferenced otherwise, so an idle worker never keeps it alive.
      if (this.waiting.size === 0) worker.ref();
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, ...request });
    });
  }

  private start(): Worker {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const workerData = { filename: this.filename, readonly: this.readonly, configure: this.configure, driver };
    const worker = new Worker(SOURCE, { eval: true, workerData });
    worker.on('message', (m: { id: number; total?: number; error?: { code?: string; message: string } }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      if (m.error === undefined) w?.resolve(m.total!);
      else w?.reject(new PruneThreadError(m.error.message, m.error.code));
    });
    // A worker that failed to open the file (or died) answers nothing more: refuse what waits, and
    // start a new one on the next request.
    const gone = (err: unknown) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const e = err as { message?: string; code?: string };
      this.fail(new PruneThreadError(`the prune worker stopped: ${e?.message ?? String(err)}`, e?.code));
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`exit code ${code}`)));
    // After the listeners: adding a listener references the worker again.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private fail(err: PruneThreadError): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
