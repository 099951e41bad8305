import type { StreamWaitOutcome } from '../contracts/stream.js';

/** A stream's tail as a waiter sees it, or `undefined` when the stream is missing. */
export interface TailSnapshot {
  tail: number;
  closed: boolean;
}

/** What a waiter at `position` should do, given the stream's tail: resolve, or keep waiting. */
export function waitOutcome(snapshot: TailSnapshot | undefined, position: number): StreamWaitOutcome | undefined {
  if (snapshot === undefined) return 'missing';
  if (snapshot.tail > position) return 'data';
  if (snapshot.closed) return 'closed';
  return undefined;
}

interface Waiter {
  wake(): void;
}

export interface WaitParams {
  /** Reads the current outcome; `undefined` means keep waiting. */
  check: () => Promise<StreamWaitOutcome | undefined> | StreamWaitOutcome | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Re-check this often even without a notification (changes made by other processes). */
  pollMs?: number | undefined;
}

/**
 * In-process registry of `StreamStore.wait` calls. Writers (or a cross-process listener)
 * call `notify(name)`; each waiter of that name re-checks the backend. Timers are unref'd:
 * a pending wait never keeps the process alive.
 */
export class StreamWaiters {
  private readonly byName = new Map<string, Set<Waiter>>();
  private readonly all = new Set<() => void>();
  private closed = false;

  /** How many waits are pending (all names). */
  get size(): number {
    return this.all.size;
  }

  /** Names with at least one pending wait. */
  names(): IterableIterator<string> {
    return this.byName.keys();
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  notify(name: string): void {
    const set = this.byName.get(name);
    if (set === undefined) return;
    for (const w of [...set]) w.wake();
  }

  notifyAll(): void {
    for (const set of [...this.byName.values()]) for (const w of [...set]) w.wake();
  }

  /** Resolves every pending wait with `aborted`; later waits resolve `aborted` at once. */
  close(): void {
    this.closed = true;
    for (const abort of [...this.all]) abort();
  }

  wait(name: string, params: WaitParams): Promise<StreamWaitOutcome> {
    if (this.closed || params.signal?.aborted) return Promise.resolve('aborted');
    return new Promise<StreamWaitOutcome>((resolve, reject) => {
      let done = false;
      let checking = false;
      let again = false;
      let poll: NodeJS.Timeout | undefined;
      const waiter: Waiter = { wake: () => void run() };
      const finish = (outcome: StreamWaitOutcome | Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (poll !== undefined) clearInterval(poll);
        params.signal?.removeEventListener('abort', onAbort);
        this.all.delete(abort);
        const set = this.byName.get(name);
        if (set !== undefined) {
          set.delete(waiter);
          if (set.size === 0) this.byName.delete(name);
        }
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const run = async (): Promise<void> => {
        if (done) return;
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        try {
          do {
            again = false;
            const outcome = await params.check();
            if (outcome !== undefined) return finish(outcome);
          } while (again && !done);
        } catch (err) {
          finish(err as Error);
        } finally {
          checking = false;
        }
      };
      const abort = (): void => finish('aborted');
      const onAbort = (): void => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), params.timeoutMs);
      timer.unref();
      params.signal?.addEventListener('abort', onAbort, { once: true });
      this.all.add(abort);
      let set = this.byName.get(name);
      if (set === undefined) this.byName.set(name, (set = new Set()));
      set.add(waiter);
      if (params.pollMs !== undefined) {
        poll = setInterval(() => void run(), params.pollMs);
        poll.unref();
      }
      // Registered before the first check, so a notification in between is not lost.
      void run();
    });
  }
}
