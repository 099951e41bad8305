import type { StreamStore, StreamWaitOutcome } from '@stowage/core';

/** Why a shared wait stops: every reader in it left. Frozen and reused, as in live-waits.ts. */
const LEFT = Object.freeze(new Error('every reader of the shared wait left'));

interface Waiter {
  /** Epoch ms at which this reader stops waiting. */
  readonly until: number;
  settle(outcome: StreamWaitOutcome): void;
  fail(err: unknown): void;
}

/** The readers waiting on one stream at one offset, and the one store wait they share. */
interface Group {
  readonly waiters: Set<Waiter>;
  readonly stop: AbortController;
  /** The latest `until` of its readers: the shared wait lasts that long. */
  until: number;
}

/**
 * One `store.wait` for all the live readers waiting on the same stream at the same offset.
 * 10,000 readers at the tail of one stream made 10,000 store waits, each with a first look
 * at the store (a query on PostgreSQL or Redis) when it began, and again after every append
 * woke them all; now they make one. A reader that joins a wait already under way misses
 * nothing: every append since the wait's first look is past the offset they share.
 *
 * Each reader keeps its own time limit and abort signal; the shared wait stops when the last
 * reader leaves, and is renewed when it times out while readers that came later still wait.
 */
export class SharedWaits {
  private readonly groups = new Map<string, Group>();
  private count = 0;
  /** Readers waiting now, by stream name (at any offset). */
  private readonly byName = new Map<string, number>();

  constructor(
    private readonly store: StreamStore,
    /** Told of each reader that starts (+1) or stops (-1) waiting, e.g. a metric. */
    private readonly counted: ((delta: number) => void) | undefined,
  ) {}

  /** Readers waiting now. */
  get waiting(): number {
    return this.count;
  }

  /** Readers waiting now on `name`. */
  waitingOn(name: string): number {
    return this.byName.get(name) ?? 0;
  }

  /** As `store.wait`, shared with the other readers of `name` waiting at `from`. */
  wait(name: string, from: string, timeoutMs: number, signal: AbortSignal): Promise<StreamWaitOutcome> {
    if (signal.aborted) return Promise.resolve('aborted');
    return new Promise<StreamWaitOutcome>((resolve, reject) => {
      const key = `${from}\n${name}`;
      let group = this.groups.get(key);
      const fresh = group === undefined;
      const until = Date.now() + timeoutMs;
      group ??= { waiters: new Set(), stop: new AbortController(), until };
      const joined = group;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.change(name, -1);
      };
      const waiter: Waiter = {
        until,
        settle: (outcome) => {
          done();
          resolve(outcome);
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      const leave = (outcome: StreamWaitOutcome): void => {
        joined.waiters.delete(waiter);
        if (joined.waiters.size === 0) this.end(key, joined).stop.abort(LEFT);
        waiter.settle(outcome);
      };
      const onAbort = (): void => leave('aborted');
      const timer = setTimeout(() => leave('timeout'), timeoutMs);
      signal.addEventListener('abort', onAbort);
      joined.waiters.add(waiter);
      if (until > joined.until) joined.until = until;
      this.change(name, 1);
      if (fresh) {
        this.groups.set(key, joined);
        void this.run(key, name, from, joined);
      }
    });
  }

  private async run(key: string, name: string, from: string, group: Group): Promise<void> {
    for (;;) {
      let outcome: StreamWaitOutcome;
      try {
        outcome = await this.store.wait(name, from, Math.max(1, group.until - Date.now()), group.stop.signal);
      } catch (err) {
        for (const w of this.end(key, group).waiters) w.fail(err);
        return;
      }
      if (outcome === 'aborted') return; // every reader left; the group is gone already
      // Readers that came later wait longer than the shared wait did: renew it for them
      // (their own timers end the others).
      if (outcome === 'timeout' && group.waiters.size > 0 && group.until > Date.now()) continue;
      for (const w of this.end(key, group).waiters) w.settle(outcome);
      return;
    }
  }

  /** `group` is no longer joined by new readers. */
  private end(key: string, group: Group): Group {
    if (this.groups.get(key) === group) this.groups.delete(key);
    return group;
  }

  private change(name: string, delta: number): void {
    this.count += delta;
    const left = (this.byName.get(name) ?? 0) + delta;
    if (left === 0) this.byName.delete(name);
    else this.byName.set(name, left);
    this.counted?.(delta);
  }
}
