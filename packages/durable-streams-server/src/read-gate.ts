/** A read waiting for its turn, and everyone who asked for it. */
interface Queued<T> {
  key: string;
  read: () => Promise<T>;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
  promise: Promise<T>;
}

/**
 * The reads of the store that answer responses (catch-up, long-poll, SSE) run at most `limit`
 * at a time; the rest wait here, in arrival order. A store's time limit (Redis `timeoutMs`,
 * PostgreSQL `statementTimeoutMs`) runs from the call's start, including the time it waits
 * in the store's client behind the calls before it (one Redis connection answers in order; a
 * pool lends a connection when one is free). Without this gate, a burst of large catch-ups
 * (64 readers of a 6.4 MiB stream) went to the store all at once, each read waited behind the
 * others past the limit, and every one was answered 503, again on each retry. Here the wait
 * costs no store time: a read waits behind at most `limit - 1` others inside the store.
 *
 * Identical reads waiting for their turn (same `key`: stream and offset) are made once, and
 * its result answers them all: each asked before that read began, so it sees every write
 * acknowledged before any of them asked. A read already running is never joined (a request
 * that came after it began could miss a write acknowledged in between).
 */
export class ReadGate {
  private running = 0;
  private readonly queue: Array<Queued<unknown>> = [];
  private readonly waiting = new Map<string, Queued<unknown>>();

  constructor(private readonly limit: number) {}

  /** `read()` now, or once fewer than `limit` run; shared with an identical read still waiting. */
  run<T>(key: string, read: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) return this.start(read);
    const same = this.waiting.get(key) as Queued<T> | undefined;
    if (same !== undefined) return same.promise;
    let resolve!: (value: T) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Queued<T> = { key, read, resolve, reject, promise };
    this.queue.push(entry as Queued<unknown>);
    this.waiting.set(key, entry as Queued<unknown>);
    return promise;
  }

  /** Reads running in the store now. */
  get inFlight(): number {
    return this.running;
  }

  /** Reads waiting for their turn (identical ones counted once). */
  get queued(): number {
    return this.queue.length;
  }

  private start<T>(read: () => Promise<T>): Promise<T> {
    this.running++;
    let pending: Promise<T>;
    try {
      pending = read();
    } catch (err) {
      pending = Promise.reject(err);
    }
    const done = (): void => {
      this.running--;
      this.next();
    };
    pending.then(done, done);
    return pending;
  }

  private next(): void {
    while (this.running < this.limit) {
      const entry = this.queue.shift();
      if (entry === undefined) return;
      this.waiting.delete(entry.key);
      this.start(entry.read).then(entry.resolve, entry.reject);
    }
  }
}
