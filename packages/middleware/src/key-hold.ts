import { MAX_TIMER_MS, StowageError, type IdempotencyStore, type StoredResponse } from '@stowage/core';
import type { ErrorSource } from '@stowage/core/adapter-kit';
import { callStore } from './failure.js';

/** How a held key is kept (resolved options of the guard). */
export interface KeyHoldSettings {
  leaseMs: number;
  maxHoldMs: number;
  retentionMs: number;
  /** The deadline of each store call, from its start. */
  timeoutMs: number;
}

/** Which key, with which owner token, taken when. */
export interface HeldKey {
  scope: string;
  key: string;
  token: string;
  /** When the `reserve` that returned `token` started (its lease ends `leaseMs` after at the latest). */
  reservedAt: number;
}

// Errors a retry cannot cure: the response will never be stored, so the key is freed.
const PERMANENT = new Set(['INVALID_ARGUMENT', 'PAYLOAD_TOO_LARGE']);
const FIRST_RETRY_MS = 50;
const LEASE_LOST_MESSAGE =
  'the lease was lost before the response was stored (it lapsed while the store was unreachable, or the store lost it, ' +
  'or an attempt to store the response succeeded but its answer was lost): a retry may run the handler again';

/**
 * The key of a request that reserved it, from `reserved` until its response is stored or
 * the key freed. While the handler runs, a heartbeat extends the lease every third of it,
 * whatever happens to the client's connection; it stops after `maxHoldMs`, so the key of a
 * handler that never ends lapses by itself. The response is stored once; if that fails, it
 * is retried in the background while the lease is held (the heartbeat goes on meanwhile), so
 * a retry of the request waits (409) instead of running the handler again. Every failure,
 * and every loss of the key, is handed to `report`.
 */
export class KeyHold {
  private state: 'running' | 'storing' | 'settled' = 'running';
  private readonly holdEndsAt: number;
  /** The end of the lease as last confirmed (from the start of the call that confirmed it). */
  private leaseEndsAt: number;
  private readonly heartbeat: NodeJS.Timeout;
  private extending = false;
  private retryMs = FIRST_RETRY_MS;

  constructor(
    private readonly source: ErrorSource,
    private readonly store: IdempotencyStore,
    private readonly held: HeldKey,
    private readonly settings: KeyHoldSettings,
    private readonly report: (err: unknown) => void,
  ) {
    this.holdEndsAt = held.reservedAt + settings.maxHoldMs;
    this.leaseEndsAt = held.reservedAt + settings.leaseMs;
    this.heartbeat = setInterval(() => this.beat(), beatMs(settings.leaseMs));
    this.heartbeat.unref();
  }

  /**
   * The handler ended with `response` (`undefined`: nothing to keep, free the key). Resolves
   * after the first attempt to store it, successful or not (never rejects): a retry that
   * follows the response then finds it stored, unless the store failed.
   */
  finish(response: StoredResponse | undefined): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    if (response === undefined) {
      this.settle();
      return this.release();
    }
    this.state = 'storing';
    return this.storeResponse(response);
  }

  /**
   * The response does not tell whether the handler has ended (a request-timeout
   * middleware's answer): the heartbeat stops and the lease is extended once more, to
   * `leaseMs` from now, so the key is held that long after the answer (not from the last
   * heartbeat, up to a third of a lease before it); it is neither stored nor freed, and a
   * retry meanwhile waits (409). Resolves after that extension (never rejects: a failure is
   * reported, and the key then lapses with the lease it had).
   */
  lapse(): Promise<void> {
    if (this.state !== 'running') return Promise.resolve();
    this.settle();
    return this.extendLease().then(
      (stillHeld) => {
        if (!stillHeld) this.report(this.lost(LEASE_LOST_MESSAGE));
      },
      (err: unknown) => this.report(err),
    );
  }

  private beat(): void {
    if (this.state === 'settled') {
      clearInterval(this.heartbeat);
      return;
    }
    if (Date.now() >= this.holdEndsAt) {
      clearInterval(this.heartbeat); // the lease lapses by itself within leaseMs
      if (this.state === 'running') {
        const ms = this.settings.maxHoldMs;
        this.report(
          this.lost(
            `the handler did not end within maxHoldMs (${ms} ms): the key lapses with its lease, so a retry may run the handler again`,
          ),
        );
      }
      return; // a response being stored stops retrying at the same time (see canRetry)
    }
    if (this.extending) return; // the previous heartbeat has not answered yet
    this.extending = true;
    const startedAt = Date.now();
    this.extendLease().then(
      (stillHeld) => {
        this.extending = false;
        if (stillHeld) this.leaseEndsAt = startedAt + this.settings.leaseMs;
        else if (this.state !== 'settled') {
          this.settle();
          this.report(this.lost(LEASE_LOST_MESSAGE));
        }
      },
      (err: unknown) => {
        this.extending = false;
        if (this.state !== 'settled') this.report(err);
      },
    );
  }

  /** One `extend` of the lease to `leaseMs` from now: whether it was still held. */
  private extendLease(): Promise<boolean> {
    const { scope, key, token } = this.held;
    return callStore(this.source, this.settings.timeoutMs, (deadline) =>
      this.store.extend(scope, key, token, this.settings.leaseMs, { deadline }),
    );
  }

  private storeResponse(response: StoredResponse): Promise<void> {
    if (this.state === 'settled') return Promise.resolve(); // the lease was lost meanwhile (reported)
    const { scope, key, token } = this.held;
    return callStore(this.source, this.settings.timeoutMs, (deadline) =>
      this.store.complete(scope, key, token, response, { retentionMs: this.settings.retentionMs, deadline }),
    ).then(
      (stored) => {
        this.settle();
        if (!stored) {
          this.report(
            this.lost('the response was not stored: the lease had ended (or an earlier attempt stored it but its answer was lost)'),
          );
        }
      },
      (err: unknown) => {
        this.report(err);
        if (this.state === 'settled') return;
        if (err instanceof StowageError && PERMANENT.has(err.code)) {
          this.settle();
          void this.release(); // it can never be stored: let a retry run again
        } else if (this.canRetry()) {
          const again = setTimeout(() => void this.storeResponse(response), this.retryMs);
          again.unref();
          this.retryMs = Math.min(this.retryMs * 2, beatMs(this.settings.leaseMs));
        } else {
          this.settle();
          this.report(this.lost('gave up storing the response: the lease ended first, so a retry will run the handler again'));
        }
      },
    );
  }

  /** A new attempt can still find the lease held (and maxHoldMs has not passed). */
  private canRetry(): boolean {
    const now = Date.now();
    return now < this.leaseEndsAt && now < this.holdEndsAt;
  }

  private release(): Promise<void> {
    const { scope, key, token } = this.held;
    return callStore(this.source, this.settings.timeoutMs, (deadline) => this.store.release(scope, key, token, { deadline })).then(
      () => undefined,
      (err: unknown) => this.report(err), // the lease then lapses by itself
    );
  }

  private settle(): void {
    this.state = 'settled';
    clearInterval(this.heartbeat);
  }

  private lost(message: string): StowageError {
    return this.source.error('CONFLICT', message, { details: { scope: this.held.scope, key: this.held.key } });
  }
}

/** The heartbeat of a lease: a third of it, at least 1 ms and at most what a Node timer takes. */
const beatMs = (leaseMs: number): number => Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(leaseMs / 3)));
