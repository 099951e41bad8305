import { type BackgroundReport, type ErrorSource, settleWithin, type StreamWaiters } from '@stowage/core/adapter-kit';
import { mapError } from './base.js';
import type { Connection, Subscription } from './connection.js';

export interface StreamSubscriberOptions {
  connection: Connection;
  source: ErrorSource;
  channel: string;
  waiters: StreamWaiters;
  report: BackgroundReport;
  /** How long a wait waits for the subscribe. */
  timeoutMs: number;
}

/**
 * The pub/sub subscriber of a stream store: a connection of its own (a duplicate of the
 * client) whose messages wake the waiters. The driver reconnects and resubscribes it by itself.
 *
 * Its failures go to `report` (operation `subscribe`) once per outage: the first failure
 * after it was subscribed (its connection lost), or the first failed subscribe, is reported;
 * the reconnect attempts and the waits' subscribes that fail after it are not, until it is
 * subscribed again (its first subscribe answered, or the driver's `ready` after a reconnect,
 * which resubscribes it). The next outage is then reported again. A recovery is not reported:
 * `onError` receives errors only, and the waiters are woken (anything may have happened while deaf).
 */
export class StreamSubscriber {
  private subscription: Subscription | undefined;
  private subscribed: Promise<void> | undefined;
  /** Subscribed once: a later `ready` of its connection is a resubscribe. */
  private hearing = false;
  /** This outage was reported. */
  private reported = false;
  /** Its current subscribe was answered (it may be deaf meanwhile: the driver resubscribes it). */
  private answered = false;

  constructor(private readonly o: StreamSubscriberOptions) {}

  /** Subscribed: `ensure()` has nothing to wait for. */
  get listening(): boolean {
    return this.answered;
  }

  /** Subscribes if not yet, waiting at most the time limit; never rejects (a failure is reported, once per outage). */
  async ensure(): Promise<void> {
    const { source, timeoutMs } = this.o;
    try {
      await settleWithin(this.subscribe(), timeoutMs, () => source.error('TIMEOUT', 'subscribe did not answer'));
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    if (this.reported) return;
    this.reported = true;
    this.o.report(err, 'subscribe');
  }

  private subscribe(): Promise<void> {
    const { connection, source, channel, waiters } = this.o;
    this.subscribed ??= (async () => {
      const { subscription, subscribed } = connection.subscribe(channel, {
        message: (name) => waiters.notify(name),
        ready: () => {
          // Resubscribed after a reconnect: heard again, and anything may have happened while deaf.
          if (this.hearing) this.reported = false;
          waiters.notifyAll();
        },
        // It reconnects by itself; meanwhile only this process's changes wake its waiters.
        error: (err) => this.failed(mapError(source, err, connection)),
      });
      this.subscription = subscription;
      await subscribed;
      this.answered = true;
      this.hearing = true;
      this.reported = false;
    })().catch((err: unknown) => {
      this.answered = false;
      this.subscription?.close();
      this.subscription = undefined;
      this.subscribed = undefined;
      throw mapError(source, err, connection);
    });
    return this.subscribed;
  }

  close(): void {
    const sub = this.subscription;
    this.subscription = undefined;
    this.subscribed = undefined;
    this.answered = false;
    sub?.close();
  }
}
