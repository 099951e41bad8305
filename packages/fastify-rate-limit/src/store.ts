import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { toStoreKey, type RateLimitDecision, type RateLimitOnExceed, type RateLimitStore } from '@stowage/core';
import {
  ErrorSource,
  validateDuration,
  validateTimerMs,
  validateKey,
  validateOptionNames,
  validateOptions,
} from '@stowage/core/adapter-kit';
import { FirstHitWindow } from './window.js';

export const source = new ErrorSource('@stowage/fastify-rate-limit', 'StowageFastifyStore');

export interface StowageStoreOptions {
  /** Where counts live: any Stowage `RateLimitStore` (memory, SQLite, PostgreSQL, Redis). */
  store: RateLimitStore;
  /**
   * Prefix of every key, so several limiters (or several registrations of the plugin) can share
   * one store. @default 'frl:'
   */
  prefix?: string;
  /**
   * Every call to `store` carries the deadline `Date.now() + timeoutMs` (core's `CallOptions`):
   * it answers within it, `TIMEOUT` or `UNAVAILABLE` past it, and a call reported failed never
   * counts later. Integer ms, 1 ms to ten years.
   * @default 1000
   */
  timeoutMs?: number;
}

/** Each option of {@link StowageStoreOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof StowageStoreOptions, true>> = {
  store: true,
  prefix: true,
  timeoutMs: true,
};

/** What `incr` and `read` report: the hits of the key's current window and the ms until it ends. */
export interface RateLimitCount {
  current: number;
  ttl: number;
}

/** What @fastify/rate-limit passes to the store's constructor and to `child` that this store reads. */
export interface LimiterParams {
  continueExceeding?: boolean;
  exponentialBackoff?: boolean;
  /** The route a child store limits (its `method` and `url`); `{}` for `createRateLimit` / `rateLimit` limiters. */
  routeInfo?: { method?: unknown; url?: unknown };
}

type Callback = (error: Error | null, result?: RateLimitCount) => void;

const POLICY_NAME = 'fastify-rate-limit';

interface Settings {
  store: RateLimitStore;
  prefix: string;
  timeoutMs: number;
  /** How many limiters without a route (`createRateLimit`, `rateLimit`) the root store has made. */
  unnamed: { count: number };
}

function settingsOf(options: StowageStoreOptions): Settings {
  const o = validateOptions<StowageStoreOptions>(source, 'options', options);
  validateOptionNames(source, 'options', o, OPTION_NAMES);
  if (o.store === undefined || typeof o.store.consume !== 'function') throw source.invalid('options.store must be a RateLimitStore');
  return {
    store: o.store,
    prefix: o.prefix === undefined ? 'frl:' : validateKey(source, 'options.prefix', o.prefix),
    timeoutMs: o.timeoutMs === undefined ? 1000 : validateTimerMs(source, 'options.timeoutMs', o.timeoutMs),
    unnamed: { count: 0 },
  };
}

/** What a hit over `max` does to the window: the plugin's options, `continueExceeding` first as in its own stores. */
function onExceedOf(params: LimiterParams | undefined): RateLimitOnExceed {
  if (params?.continueExceeding === true) return 'restart';
  return params?.exponentialBackoff === true ? 'backoff' : 'keep';
}

/** Windows kept per store (per `timeWindow` and `max`, which a function may vary): plenty for one limiter. */
const MAX_WINDOWS = 64;

/**
 * A store for @fastify/rate-limit over any Stowage `RateLimitStore`, made by
 * {@link stowageStore}. It keeps windows as the plugin's own stores do: a key's window starts
 * at its first hit and lasts `timeWindow`; with `continueExceeding` each hit over `max`
 * restarts it, with `exponentialBackoff` each hit over `max` restarts it lengthened to
 * `timeWindow * 2^(current - max - 1)` (an `anchored-window` policy, on the backend's clock).
 * One atomic `consume` per request, so replicas share exact counts; the plugin compares them
 * with its `max` (hits over it are counted too, which `ban` needs). A route's child store
 * counts in its own key space, as the built-in stores do.
 */
export class StowageFastifyStore implements FastifyRateLimitStore {
  /** Where this store's keys are: `<prefix>g:` (the plugin's own limit), `<prefix>r:<route>`, `<prefix>l<n>:`. */
  readonly keySpace: string;
  /** What a hit over `max` does: `keep` the window, `restart` it (`continueExceeding`), `backoff` (`exponentialBackoff`). */
  readonly onExceed: RateLimitOnExceed;
  private readonly settings: Settings;
  /** The windows seen, by `timeWindow` and threshold (limiters almost always have one). */
  private readonly windows = new Map<string, FirstHitWindow>();

  /** @internal Made by {@link stowageStore} and by `child`. */
  constructor(settings: Settings, params: LimiterParams | undefined, keySpace: string) {
    this.settings = settings;
    this.keySpace = keySpace;
    this.onExceed = onExceedOf(params);
  }

  /** The deadline of every store call, in ms from its start. */
  get timeoutMs(): number {
    return this.settings.timeoutMs;
  }

  /**
   * Counts one hit of `key` and reports the hits of its window (this one included) and the ms
   * until the window ends: `timeWindow` at a key's first hit (and at each hit over `max` with
   * `continueExceeding`; longer with `exponentialBackoff`). A `timeWindow` of 0 makes every hit its own window (`{ current: 1,
   * ttl: 0 }`, nothing stored), as in the built-in stores. Errors (`TIMEOUT`, `UNAVAILABLE`,
   * `INVALID_ARGUMENT` for a window that is not an integer of 1 ms to ten years) go to the
   * callback: the plugin answers 500, or lets the request through with `skipOnError`.
   */
  incr(key: string, callback: Callback, timeWindow: number, max: number): void {
    this.count(key, timeWindow, max).then(
      (result) => callback(null, result),
      (err: unknown) => callback(source.wrap(err)),
    );
  }

  /**
   * The hits of `key`'s current window and the ms until it ends, without counting one
   * (`createRateLimit`'s `{ increment: false }`); `{ current: 0, ttl: 0 }` when it holds none.
   */
  read(key: string, callback: Callback, timeWindow: number, max?: number): void {
    this.peek(key, timeWindow, max).then(
      (result) => callback(null, result),
      (err: unknown) => callback(source.wrap(err)),
    );
  }

  /**
   * The store of one route (`routeInfo.method` and `url`) or of one `createRateLimit` /
   * `rateLimit` limiter: counts apart from every other. A limiter without a route is named by
   * the order it was made in, the same on every replica that runs the same code.
   */
  child(routeOptions: object): StowageFastifyStore {
    const params = routeOptions as LimiterParams;
    const { method, url } = params.routeInfo ?? {};
    const { prefix } = this.settings;
    const space = url === undefined ? `${prefix}l${++this.settings.unnamed.count}:` : `${prefix}r:${JSON.stringify([method, url])}`;
    return new StowageFastifyStore(this.settings, params, space);
  }

  private async count(key: string, timeWindow: number, max: number): Promise<RateLimitCount> {
    if (timeWindow === 0) return { current: 1, ttl: 0 };
    const window = this.windowOf(timeWindow, max);
    const decision = await this.settings.store.consume(this.storeKey(key), window.policy, this.callOptions());
    if (decision.allowed) return { current: window.hits(decision), ttl: decision.resetMs };
    // The window holds all it can count: this hit is over any max a window can enforce.
    if (window.capacity < max) throw this.full(window);
    return { current: window.capacity + 1, ttl: decision.resetMs };
  }

  private async peek(key: string, timeWindow: number, max: number | undefined): Promise<RateLimitCount> {
    if (timeWindow === 0) return { current: 0, ttl: 0 };
    const window = this.windowOf(timeWindow, max);
    const decision: RateLimitDecision = await this.settings.store.peek(this.storeKey(key), window.policy, this.callOptions());
    const current = window.hits(decision);
    return current === 0 ? { current: 0, ttl: 0 } : { current, ttl: decision.resetMs };
  }

  // `max` is part of the window's shape only where hits over it change the window: with
  // `keep` every `max` shares one count, as before; otherwise a key counts per `max`.
  private windowOf(timeWindow: number, max: number | undefined): FirstHitWindow {
    const ms = validateDuration(source, 'timeWindow', timeWindow);
    const threshold = this.onExceed === 'keep' || max === undefined ? Math.floor(2 ** 52 / ms) : FirstHitWindow.thresholdOf(max, ms);
    const id = `${ms}:${threshold}`;
    let window = this.windows.get(id);
    if (window === undefined) {
      if (this.windows.size >= MAX_WINDOWS) this.windows.clear();
      window = new FirstHitWindow(ms, threshold, this.onExceed, POLICY_NAME);
      this.windows.set(id, window);
    }
    return window;
  }

  // Any key the plugin makes (an IP, a user id + groupId...) is counted: one a store cannot
  // take as it is (over 1024 bytes, U+0000, a lone surrogate) is hashed by toStoreKey.
  private storeKey(key: string | number): string {
    return toStoreKey(this.keySpace + String(key));
  }

  private callOptions(): { deadline: number } {
    return { deadline: Date.now() + this.settings.timeoutMs };
  }

  private full(window: FirstHitWindow): Error {
    return source.error(
      'CONFLICT',
      `the window already holds ${window.capacity} hits of this key, the most a store can count in ${window.policy.windowMs} ms, ` +
        'below max: the hit was not counted',
      { details: { maxLimit: window.capacity } },
    );
  }
}

/**
 * The `store` option of @fastify/rate-limit: a class the plugin constructs with its options
 * (`continueExceeding`, `exponentialBackoff`), counting in `options.store`.
 *
 * ```ts
 * await app.register(rateLimit, { max: 100, timeWindow: 60_000, store: stowageStore({ store }) });
 * ```
 */
export function stowageStore(options: StowageStoreOptions): FastifyRateLimitStoreCtor {
  const settings = settingsOf(options);
  return class extends StowageFastifyStore {
    constructor(params: LimiterParams) {
      super(settings, params, `${settings.prefix}g:`);
    }
  };
}
