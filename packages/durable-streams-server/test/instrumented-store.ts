import type { StreamStore, StreamWaitOutcome } from '@stowage/core';

/**
 * A real StreamStore seen through a window: it counts the `wait` calls in flight, can hold
 * `read` calls at a gate (so a client can leave while the handler awaits the store), and can
 * make every method throw synchronously or the waits in flight reject (a broken store, not a
 * mock of a backend: the data still lives in the real store underneath).
 */
export class InstrumentedStore implements StreamStore {
  waitsInFlight = 0;
  waitsStarted = 0;
  readsStarted = 0;
  readsInFlight = 0;
  /** The most `read` calls in flight at once so far. */
  maxReadsInFlight = 0;
  /**
   * A wait that ends with data or a close is told to its caller this much later (ms): as when
   * its look came back turns after the append's own answer (another connection, a busy loop).
   */
  lateWakeMs = 0;
  /** Throw this synchronously from every method while set. */
  throwing: unknown = undefined;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private readonly held: Array<() => void> = [];
  private readonly failingWaits = new Set<(err: unknown) => void>();

  constructor(private readonly inner: StreamStore) {}

  /** Holds every `read` from now on until `release()`. */
  hold(): void {
    this.gate = new Promise<void>((resolve) => (this.openGate = resolve));
  }

  /** Lets held reads go on. */
  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  /** How many reads wait at the gate. */
  get readsHeld(): number {
    return this.held.length;
  }

  private check(): void {
    if (this.throwing !== undefined) throw this.throwing;
  }

  create: StreamStore['create'] = (...a) => (this.check(), this.inner.create(...a));
  append: StreamStore['append'] = (...a) => (this.check(), this.inner.append(...a));
  head: StreamStore['head'] = (...a) => (this.check(), this.inner.head(...a));
  closeStream: StreamStore['closeStream'] = (...a) => (this.check(), this.inner.closeStream(...a));
  delete: StreamStore['delete'] = (...a) => (this.check(), this.inner.delete(...a));
  cleanupExpired: StreamStore['cleanupExpired'] = () => (this.check(), this.inner.cleanupExpired());
  close: StreamStore['close'] = () => this.inner.close();

  read: StreamStore['read'] = (...a) => {
    this.check();
    this.readsStarted++;
    this.maxReadsInFlight = Math.max(this.maxReadsInFlight, ++this.readsInFlight);
    const gate = this.gate;
    let reading: ReturnType<StreamStore['read']>;
    if (gate === undefined) reading = this.inner.read(...a);
    else {
      let done!: () => void;
      this.held.push((done = () => undefined));
      reading = gate.then(() => {
        this.held.splice(this.held.indexOf(done), 1);
        return this.inner.read(...a);
      });
    }
    return reading.finally(() => this.readsInFlight--);
  };

  wait: StreamStore['wait'] = (...a) => {
    this.check();
    this.waitsInFlight++;
    this.waitsStarted++;
    let fail!: (err: unknown) => void;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    this.failingWaits.add(fail);
    const late = (outcome: StreamWaitOutcome): Promise<StreamWaitOutcome> | StreamWaitOutcome =>
      this.lateWakeMs > 0 && (outcome === 'data' || outcome === 'closed')
        ? new Promise((resolve) => setTimeout(() => resolve(outcome), this.lateWakeMs))
        : outcome;
    return Promise.race([this.inner.wait(...a).then(late), failed]).finally(() => {
      this.failingWaits.delete(fail);
      this.waitsInFlight--;
    }) as Promise<StreamWaitOutcome>;
  };

  /** Rejects every `wait` in flight with `err`, as a store does when a look at its failed backend fails. */
  failWaits(err: unknown): void {
    for (const fail of this.failingWaits) fail(err);
  }
}

/** Polls `condition` every 10 ms; false if it is still false after `ms`. */
export async function eventually(condition: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
