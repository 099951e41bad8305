import type { IncomingMessage } from 'node:http';
import { StowageError, type WakeNotice } from '@stowage/core';
import type { ResolvedOptions } from './options.js';
import { requestOrigin } from './origin.js';
import { source } from './protocol.js';
import { encodePath } from './route.js';
import type { ResolvedSubscriptions } from './subscription-options.js';
import { type ControlUrls, relativePath, wakeEvent, webhookBody } from './subscription-wire.js';
import { checkWebhookUrl } from './webhook-address.js';
import { type DeliveryResult, postWebhook } from './webhook-delivery.js';
import { WebhookKeys } from './webhook-keys.js';

/** Most notices taken from the store per poll. */
const TAKE_LIMIT = 100;
/** How long this process signs with the keys it read before reading them again. */
const KEY_CACHE_MS = 30_000;

const reason = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/[\r\n]+/g, ' ').slice(0, 512);

/**
 * What subscriptions do besides answering requests: tell the store about appends and
 * deletes, announce the wakes it starts (a webhook POST, or an event appended to the wake
 * stream), and take due work (retries, expired leases) every `pollIntervalMs`. Announcing is
 * never awaited by a request: a dead receiver never holds up an append. Every failure goes
 * to the server's `onError` (or its logger), none is left as an unhandled rejection.
 */
export class SubscriptionRuntime {
  readonly keys: WebhookKeys;
  readonly #o: ResolvedOptions;
  readonly #s: ResolvedSubscriptions;
  readonly #inflight = new Set<Promise<void>>();
  readonly #closing = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #listenOrigin: string | undefined;

  constructor(o: ResolvedOptions, s: ResolvedSubscriptions) {
    this.#o = o;
    this.#s = s;
    this.keys = new WebhookKeys(s.store, { ring: s.signingKeys, replacedKeyTtlMs: s.replacedKeyTtlMs, cacheMs: KEY_CACHE_MS });
    this.#schedule(s.pollIntervalMs);
  }

  get options(): ResolvedSubscriptions {
    return this.#s;
  }

  /** The origin of the URLs in answers to `req`: `publicBaseUrl`, else the one it addressed. */
  originFor(req: IncomingMessage): string | undefined {
    return this.#originOf(req);
  }

  /** The URLs of the reserved APIs under `origin`. */
  urls(origin: string | undefined): ControlUrls {
    return { root: `${origin ?? ''}${encodePath(this.#o.basePath)}__ds/` };
  }

  /** The origin a request without one of its own uses (a `createStreamsServer` that listens). */
  setListenOrigin(origin: string): void {
    this.#listenOrigin = origin;
  }

  /**
   * After an append (or a create with content) to `stream`: the store links and wakes what it
   * must, before the request is answered (a claim right after the append sees its work). A
   * failure is logged; the append has happened and stays answered as such.
   */
  async noteAppend(stream: string, tailOffset: string): Promise<void> {
    if (relativePath(stream).length === 0) return;
    let notices: WakeNotice[];
    try {
      notices = await this.#s.store.noteAppend(stream, tailOffset);
    } catch (err) {
      this.#log('noteAppend', err, `noteAppend(${JSON.stringify(stream.slice(0, 128))}) failed: ${reason(err)}`);
      // The other subscriptions were updated: their wakes are announced all the same.
      this.#announceStarted(err);
      return;
    }
    if (notices.length > 0) this.announce(notices);
  }

  /** After a stream was deleted: the store forgets it in every subscription. A failure is logged. */
  async noteDelete(stream: string): Promise<void> {
    if (relativePath(stream).length === 0) return;
    try {
      await this.#s.store.noteDelete(stream);
    } catch (err) {
      this.#log('noteDelete', err, `noteDelete(${JSON.stringify(stream.slice(0, 128))}) failed: ${reason(err)}`);
    }
  }

  /** Announces wakes in the background (webhook POST or wake-stream event). */
  announce(notices: readonly WakeNotice[]): void {
    // Never the Host of the request at hand: whoever appends would choose where receivers
    // send their callback tokens.
    const origin = this.#deliveryOrigin();
    for (const n of notices) {
      const work = n.subscription.type === 'webhook' ? this.#deliver(n, origin) : this.#appendWakeEvent(n);
      this.#track(work);
    }
  }

  /** Adds a new signing key (see `WebhookKeys.rotate`). */
  rotateSigningKey(): Promise<string> {
    return this.keys.rotate();
  }

  /** Stops polling; aborts webhook POSTs under way (their wakes are retried by the store). */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#closing.abort();
  }

  /** Resolves once no background work (a poll, an announcement) is left. */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  #originOf(req: IncomingMessage): string | undefined {
    return this.#s.publicBaseUrl ?? requestOrigin(req) ?? this.#listenOrigin;
  }

  /** The origin of `callback_url` in deliveries: configured, or the address this server listens on. */
  #deliveryOrigin(): string | undefined {
    return this.#s.publicBaseUrl ?? this.#listenOrigin;
  }

  #schedule(delayMs: number): void {
    if (this.#closing.signal.aborted) return;
    this.#timer = setTimeout(() => this.#track(this.#poll()), delayMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    let taken = 0;
    try {
      const due = await this.#s.store.takeDue({ limit: TAKE_LIMIT });
      taken = due.length;
      this.announce(due);
    } catch (err) {
      if (!this.#closing.signal.aborted) this.#log('takeDue', err, `takeDue failed: ${reason(err)}`);
      // The other subscriptions were taken: their notices are announced all the same.
      this.#announceStarted(err);
    } finally {
      // A full batch: more may be due now.
      this.#schedule(taken === TAKE_LIMIT ? 0 : this.#s.pollIntervalMs);
    }
  }

  /** The wakes a call over many subscriptions started before one of them failed (`details.started`). */
  #announceStarted(err: unknown): void {
    const started = (err as { details?: { started?: unknown } } | null)?.details?.started;
    if (Array.isArray(started) && started.length > 0) this.announce(started as WakeNotice[]);
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => this.#log('subscriptions', err, `background work failed: ${reason(err)}`));
    this.#inflight.add(tracked);
    void tracked.finally(() => this.#inflight.delete(tracked));
  }

  async #deliver(n: WakeNotice, origin: string | undefined): Promise<void> {
    const id = n.subscription.id;
    const label = `webhook ${JSON.stringify(id)} wake ${n.wake.id} generation ${n.wake.generation}`;
    // Not reported: the store hands the attempt to a replica that can make it once its delivery timeout passes.
    if (!this.#s.webhooks) {
      this.#note(`${label}: webhooks are not enabled on this server; left for another replica`);
      return;
    }
    if (origin === undefined) {
      this.#note(`${label}: no origin known for callback_url yet (set subscriptions.publicBaseUrl); retried later`);
      return;
    }
    let result: DeliveryResult;
    const target = checkWebhookUrl(n.subscription.webhookUrl ?? '', this.#s.allowWebhookHosts);
    if ('refused' in target) {
      result = { outcome: 'failed', reason: target.refused };
    } else if (n.callbackToken === undefined) {
      result = { outcome: 'failed', reason: 'the wake notice carries no callback token' };
    } else {
      const body = webhookBody(n, this.urls(origin));
      let signature: string;
      try {
        signature = WebhookKeys.signature(await this.keys.signer(), body, Date.now());
      } catch (err) {
        result = { outcome: 'failed', reason: `no signing key: ${reason(err)}` };
        this.#log('webhook', err, `${label} to ${target.url.origin}: ${result.reason}`);
        await this.#report(n, label, result);
        return;
      }
      result = await postWebhook({
        target,
        body,
        signature,
        timeoutMs: this.#s.deliveryTimeoutMs,
        signal: this.#closing.signal,
      });
    }
    if (result.outcome === 'failed') {
      const where = 'refused' in target ? '' : ` to ${target.url.origin}`;
      this.#log(
        'webhook',
        source.error('UNAVAILABLE', result.reason ?? 'unknown'),
        `${label}${where} failed: ${result.reason ?? 'unknown'}`,
      );
      // Cut short by close(): left to the store's delivery timeout, so no attempt is counted.
      if (this.#closing.signal.aborted) return;
    }
    await this.#report(n, label, result);
  }

  async #report(n: WakeNotice, label: string, result: DeliveryResult): Promise<void> {
    try {
      const after = await this.#s.store.reportDelivery(n.subscription.id, n.wake.id, result.outcome);
      if (after.next !== undefined) this.announce([after.next]);
    } catch (err) {
      this.#log('reportDelivery', err, `${label}: reporting ${result.outcome} failed: ${reason(err)}`);
    }
  }

  /**
   * The pull-wake announcement: one JSON event appended to the wake stream. Not itself noted
   * as an append to subscriptions (a subscription whose pattern covers its own wake stream
   * would wake itself after every ack, forever).
   */
  async #appendWakeEvent(n: WakeNotice): Promise<void> {
    const stream = n.subscription.wakeStream;
    if (stream === undefined) return;
    try {
      await this.#o.store.append(stream, [Buffer.from(wakeEvent(n, Date.now()), 'utf8')]);
    } catch (err) {
      const e = StowageError.from(err);
      const why = e.code === 'NOT_FOUND' ? 'the wake stream does not exist' : reason(err);
      this.#log(
        'pullWake',
        err,
        `pull-wake ${JSON.stringify(n.subscription.id)} generation ${n.wake.generation}: no event on ${stream}: ${why}`,
      );
    }
  }

  /** A failure of background work: to `onError`, else an `error` line. */
  #log(operation: string, err: unknown, message: string): void {
    this.#o.report(operation, err, `subscriptions: ${message}`);
  }

  /** Work left for later or for another replica, by design: a `warn` line, not a failure. */
  #note(message: string): void {
    this.#o.logger.warn({ operation: 'webhook' }, `subscriptions: ${message.replace(/[\r\n]+/g, ' ')}`);
  }
}
