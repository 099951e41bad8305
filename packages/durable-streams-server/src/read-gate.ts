import { source } from './protocol.js';

/** One request waiting for a queued read: it leaves when its client does, or when it waited too long. */
interface Asker<T> {
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
  leave?: () => void;
}

/** A read waiting for its turn, and everyone who asked for it. */
interface Queued<T> {
  key: string;
  read: () => Promise<T>;
  askers: Set<Asker<T>>;
}

/** What ends an asker's wait besides its turn: its client leaving (the response closing). */
export interface Leaving {
  once(event: 'close', listener: () => void): unknown;
  off(event: 'close', listener: () => void): unknown;
  readonly destroyed: boolean;
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
 * A wait is bounded: past `maxWaitMs` the request is answered 503 (the store is busy), as a
 * store past its own limit would be. A request whose client leaves while it waits leaves the
 * queue, and a read nobody waits for any more is never made.
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

  constructor(
    private readonly limit: number,
    private readonly maxWaitMs: number,
  ) {}

  /**
   * `read()` now, or once fewer than `limit` run; shared with an identical read still waiting.
   * With `client`, the wait ends when it closes (rejected; nothing is sent to a closed response).
   */
  run<T>(key: string, read: () => Promise<T>, client?: Leaving): Promise<T> {
    if (client?.destroyed === true) return Promise.reject(gone());
    if (this.running < this.limit) return this.start(read);
    let entry = this.waiting.get(key) as Queued<T> | undefined;
    if (entry === undefined) {
      entry = { key, read, askers: new Set() };
      this.queue.push(entry as Queued<unknown>);
      this.waiting.set(key, entry as Queued<unknown>);
    }
    const queued = entry;
    return new Promise<T>((resolve, reject) => {
      const asker: Asker<T> = {
        resolve,
        reject,
        timer: setTimeout(() => this.drop(queued, asker, busy(this.maxWaitMs)), this.maxWaitMs),
      };
      asker.timer.unref();
      if (client !== undefined) {
        const leave = (): void => this.drop(queued, asker, gone());
        client.once('close', leave);
        asker.leave = () => client.off('close', leave);
      }
      queued.askers.add(asker);
    });
  }

  /** Reads running in the store now. */
  get inFlight(): number {
    return this.running;
  }

  /** Reads waiting for their turn (identical ones counted once). */
  get queued(): number {
    return this.queue.length;
  }

  /** `asker` stops waiting with `err`; a read left with nobody waiting leaves the queue. */
  private drop<T>(entry: Queued<T>, asker: Asker<T>, err: Error): void {
    if (!entry.askers.delete(asker)) return;
    settle(asker);
    asker.reject(err);
    if (entry.askers.size > 0) return;
    const at = this.queue.indexOf(entry as Queued<unknown>);
    if (at >= 0) this.queue.splice(at, 1);
    if (this.waiting.get(entry.key) === entry) this.waiting.delete(entry.key);
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
      const askers = [...entry.askers];
      entry.askers.clear();
      for (const a of askers) settle(a);
      this.start(entry.read).then(
        (value) => {
          for (const a of askers) a.resolve(value);
        },
        (err: unknown) => {
          for (const a of askers) a.reject(err);
        },
      );
    }
  }
}

/** Its wait is over: no timer, no listener left behind. */
function settle<T>(asker: Asker<T>): void {
  clearTimeout(asker.timer);
  asker.leave?.();
}

const busy = (ms: number) =>
  source.error('UNAVAILABLE', `the stream store is busy: this read waited ${ms} ms for its turn; retry later`, {
    details: { waitedMs: ms },
  });

/** The errors of reads dropped because their client left: nobody gets their answer. */
const clientLeft = new WeakSet<object>();

const gone = (): Error => {
  const err = source.error('UNAVAILABLE', 'the client left before its read began');
  clientLeft.add(err);
  return err;
};

/**
 * Whether `err` is a read dropped because its client left: a hang-up, not a failure of the
 * server (its access line says `aborted`), so it gets no error line.
 */
export const isClientLeft = (err: unknown): boolean => typeof err === 'object' && err !== null && clientLeft.has(err);
