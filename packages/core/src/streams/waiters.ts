import type { StreamWaitOutcome } from '../contracts/stream.js';
import { MAX_TIMER_MS } from '../validate.js';

/** A live stream as a waiter sees it at one look; `undefined` stands for a missing stream. */
export interface TailSnapshot {
  /** The incarnation of the name (`StreamInfo.id`). */
  id: string;
  tail: number;
  closed: boolean;
  /** When the stream expires, epoch ms on the store's clock (the earlier of `expiresAt` and the idle TTL); `undefined` for never. */
  expiresAt: number | undefined;
  /** The store's clock at this look. */
  now: number;
}

/**
 * What a waiter at `position` should do, given the stream as it is now: resolve, or keep
 * waiting (`undefined`). `incarnation` is the `id` an earlier look saw: a stream re-created
 * under the name since is another stream, and the one waited on is missing.
 */
export function waitOutcome(snapshot: TailSnapshot | undefined, position: number, incarnation?: string): StreamWaitOutcome | undefined {
  if (snapshot === undefined) return 'missing';
  if (incarnation !== undefined && snapshot.id !== incarnation) return 'missing';
  if (snapshot.expiresAt !== undefined && snapshot.expiresAt <= snapshot.now) return 'missing';
  if (snapshot.tail > position) return 'data';
  if (snapshot.closed) return 'closed';
  return undefined;
}

/**
 * Re-looks at an expiry no sooner than this after the previous look: a custom clock that
 * stands still just before the expiry must not make a waiter query the backend in a loop.
 */
export const EXPIRY_RECHECK_MIN_MS = 10;

/** How long after a look to look again for the stream's expiry (this process's ms), or `undefined` for no need. */
export function expiryRecheckMs(snapshot: TailSnapshot, timeLeftMs: number): number | undefined {
  if (snapshot.expiresAt === undefined) return undefined;
  const ms = Math.max(snapshot.expiresAt - snapshot.now, EXPIRY_RECHECK_MIN_MS);
  // The wait times out first: no timer needed.
  if (ms >= timeLeftMs) return undefined;
  return Math.min(ms, MAX_TIMER_MS);
}

type Look = () => Promise<TailSnapshot | undefined> | TailSnapshot | undefined;

/** A look shared by the waiters one notification wakes: the first to ask starts it with its own `look`. */
type SharedLook = (own: Look) => Promise<TailSnapshot | undefined>;

interface Waiter {
  wake(shared?: SharedLook, change?: KnownTail): void;
}

/**
 * What a change left a stream at, known to the process that made it (an append's answer):
 * its incarnation and new tail. A waiter on that incarnation below that tail has data and
 * needs no look; any other waiter looks as usual (a late notification of an old incarnation
 * is never taken for the stream now under the name).
 */
export interface KnownTail {
  id: string;
  tail: number;
}

/**
 * One look for every waiter of a name woken together. It starts after the change being
 * notified, so it sees that change for each of them: 10,000 readers waiting on one stream
 * cost one query of the backend per append, not 10,000. (Every waiter of one registry looks
 * at its name the same way.)
 */
function sharedLook(): SharedLook {
  let shared: Promise<TailSnapshot | undefined> | undefined;
  return (own) => (shared ??= new Promise<TailSnapshot | undefined>((resolve) => resolve(own())));
}

export interface WaitParams {
  /**
   * Looks at the stream now: its tail, or `undefined` when it is missing (deleted, expired,
   * hidden for its forks). Waiters of one name in one registry must look the same way: a
   * notification's look is shared by all of them.
   */
  look: Look;
  /** The position waited past (a parsed offset). */
  position: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Re-check this often even without a notification (changes made by other processes). */
  pollMs?: number | undefined;
  /**
   * Settles once other processes' changes notify this registry (a subscription being made).
   * The first look does not wait for it, so it sees the stream (its `id`) as it is at the
   * call; one more look follows when it settles, so a change before that is not missed.
   */
  ready?: Promise<unknown> | undefined;
}

/**
 * In-process registry of `StreamStore.wait` calls. Writers (or a cross-process listener)
 * call `notify(name)`; each waiter of that name looks at the backend again. Nothing
 * notifies an expiry, so each look that finds the stream expiring before the wait's timeout
 * sets a timer to look again at that moment. Timers are unref'd: a pending wait never keeps
 * the process alive.
 */
export class StreamWaiters {
  private readonly byName = new Map<string, Set<Waiter>>();
  /** Each pending wait's end: `aborted`, or an error it rejects with. */
  private readonly all = new Set<(outcome: 'aborted' | Error) => void>();
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

  /** Wakes the waiters of `name`; `change`, when the caller knows it, spares a look to those it answers. */
  notify(name: string, change?: KnownTail): void {
    const set = this.byName.get(name);
    if (set === undefined) return;
    const look = sharedLook();
    for (const w of [...set]) w.wake(look, change);
  }

  notifyAll(): void {
    for (const set of [...this.byName.values()]) {
      const look = sharedLook();
      for (const w of [...set]) w.wake(look);
    }
  }

  /** Resolves every pending wait with `aborted`; later waits resolve `aborted` at once. */
  close(): void {
    this.closed = true;
    for (const end of [...this.all]) end('aborted');
  }

  /**
   * Rejects every pending wait with `err` (the backend is known unreachable: a wait cannot
   * learn of changes, and waiting out its time limit would tell the caller "nothing new"
   * when nothing is known). A look in flight finds its wait done. Later waits are not affected.
   */
  failAll(err: Error): void {
    for (const end of [...this.all]) end(err);
  }

  wait(name: string, params: WaitParams): Promise<StreamWaitOutcome> {
    if (this.closed || params.signal?.aborted) return Promise.resolve('aborted');
    return new Promise<StreamWaitOutcome>((resolve, reject) => {
      const endsAt = Date.now() + params.timeoutMs;
      let done = false;
      let checking = false;
      let again = false;
      let poll: NodeJS.Timeout | undefined;
      let expiry: NodeJS.Timeout | undefined;
      // The stream's id at the first look: a later look at another id saw a re-created name.
      let incarnation: string | undefined;
      // A change heard before the first look settled: taken once that look names the incarnation.
      let early: KnownTail | undefined;
      const hasData = (change: KnownTail | undefined): boolean =>
        change !== undefined && incarnation === change.id && change.tail > params.position;
      const waiter: Waiter = {
        wake: (shared, change) => {
          // Data past the position, in the stream this wait is on: nothing to look at. A look
          // in flight finds the wait done.
          if (hasData(change)) return finish('data');
          if (incarnation === undefined && change !== undefined) early = change;
          void run(shared);
        },
      };
      const finish = (outcome: StreamWaitOutcome | Error): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(expiry);
        if (poll !== undefined) clearInterval(poll);
        params.signal?.removeEventListener('abort', onAbort);
        this.all.delete(finish);
        const set = this.byName.get(name);
        if (set !== undefined) {
          set.delete(waiter);
          if (set.size === 0) this.byName.delete(name);
        }
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const watchExpiry = (snapshot: TailSnapshot): void => {
        clearTimeout(expiry);
        expiry = undefined;
        const ms = expiryRecheckMs(snapshot, endsAt - Date.now());
        if (ms === undefined) return;
        expiry = setTimeout(() => void run(), ms);
        expiry.unref();
      };
      const run = async (shared?: SharedLook): Promise<void> => {
        if (done) return;
        if (checking) {
          // A look in flight may have begun before this change: look again after it (its own look).
          again = true;
          return;
        }
        checking = true;
        try {
          do {
            again = false;
            const snapshot = await (shared === undefined ? params.look() : shared(params.look));
            shared = undefined;
            const outcome = waitOutcome(snapshot, params.position, incarnation);
            if (outcome !== undefined) return finish(outcome);
            if (done) return;
            incarnation = snapshot!.id;
            // The append's answer came while this first look was on its way (another
            // connection, or a reply handled first): a second look would only repeat it.
            if (hasData(early)) return finish('data');
            early = undefined;
            watchExpiry(snapshot!);
          } while (again && !done);
        } catch (err) {
          finish(err as Error);
        } finally {
          checking = false;
        }
      };
      const onAbort = (): void => finish('aborted');
      // In steps of at most MAX_TIMER_MS: Node fires a longer delay at once.
      let timer: NodeJS.Timeout;
      let unarmedMs = params.timeoutMs;
      const arm = (): void => {
        const step = Math.min(unarmedMs, MAX_TIMER_MS);
        unarmedMs -= step;
        timer = setTimeout(() => (unarmedMs > 0 ? arm() : finish('timeout')), step);
        timer.unref();
      };
      arm();
      params.signal?.addEventListener('abort', onAbort, { once: true });
      this.all.add(finish);
      let set = this.byName.get(name);
      if (set === undefined) this.byName.set(name, (set = new Set()));
      set.add(waiter);
      if (params.pollMs !== undefined) {
        poll = setInterval(() => void run(), params.pollMs);
        poll.unref();
      }
      // Registered before the first look, so a notification in between is not lost.
      void run();
      const heard = (): void => void run();
      params.ready?.then(heard, heard);
    });
  }
}
