import type { BackgroundReport, ErrorSource, StreamWaiters } from '@stowage/core/adapter-kit';
import type pg from 'pg';
import { mapError } from './base.js';

export interface StreamListenerOptions {
  pool: pg.Pool;
  channel: string;
  source: ErrorSource;
  waiters: StreamWaiters;
  report: BackgroundReport;
  /** How often waiters look again while LISTEN is down. */
  pollMs: number;
}

/**
 * The `LISTEN` of a stream store: one connection taken from the pool, whose notifications
 * wake the waiters. While it is down (LISTEN failed, or its connection was lost) the failure
 * is reported, waiters poll, and it listens again after a delay (and on the next wait).
 */
export class StreamListener {
  private client: pg.PoolClient | undefined;
  private listening: Promise<void> | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: StreamListenerOptions) {}

  /**
   * Listens if not yet: a promise that settles once LISTEN is up or has failed (a failure is
   * reported and handled here: waiters poll meanwhile); nothing when it is up already.
   */
  ensure(): Promise<void> | undefined {
    if (this.client !== undefined) return undefined;
    return this.listen().catch((err: unknown) => this.deaf(err));
  }

  private listen(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.listening ??= this.start().catch((err: unknown) => {
      this.listening = undefined;
      throw mapError(this.o.source, err);
    });
    return this.listening;
  }

  private async start(): Promise<void> {
    const client = await this.o.pool.connect();
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.listening = undefined;
      client.removeAllListeners('notification');
      const cause = err ?? new Error('the LISTEN connection ended');
      client.release(cause);
      this.deaf(mapError(this.o.source, cause));
    };
    try {
      client.on('notification', (msg) => {
        if (msg.channel === this.o.channel && msg.payload !== undefined) this.o.waiters.notify(msg.payload);
      });
      client.on('error', lost);
      client.on('end', () => lost());
      await client.query(`LISTEN "${this.o.channel}"`);
      this.client = client;
      if (this.closed) await this.unlisten();
      else this.hearing();
    } catch (err) {
      client.removeAllListeners('notification');
      client.release(err as Error);
      throw err;
    }
  }

  /** LISTEN is down: report it, poll meanwhile, and listen again after a delay (doubling, up to 2 s). */
  private deaf(err: unknown, delay = 100): void {
    this.o.report(err, 'listen');
    if (this.closed) return;
    if (this.poller === undefined) {
      this.poller = setInterval(() => this.o.waiters.notifyAll(), this.o.pollMs);
      this.poller.unref();
    }
    if (this.reconnect !== undefined) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      this.listen().catch((e: unknown) => this.deaf(e, Math.min(delay * 2, 2000)));
    }, delay);
    this.reconnect.unref();
  }

  /** LISTEN is up again: stop polling and wake every waiter, as anything may have happened while deaf. */
  private hearing(): void {
    if (this.poller === undefined) return;
    clearInterval(this.poller);
    this.poller = undefined;
    this.o.waiters.notifyAll();
  }

  private async unlisten(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.listening = undefined;
    if (client === undefined) return;
    client.removeAllListeners('notification');
    client.removeAllListeners('error');
    client.removeAllListeners('end');
    try {
      await client.query(`UNLISTEN "${this.o.channel}"`);
      client.release();
    } catch (err) {
      client.release(err as Error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnect);
    clearInterval(this.poller);
    await this.listening?.catch(() => {});
    await this.unlisten();
  }
}
