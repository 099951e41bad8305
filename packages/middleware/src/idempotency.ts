import {
  DEFAULT_MAX_RESPONSE_BYTES,
  fingerprintRequest,
  toStoreKey,
  type IdempotencyStore,
  type Reservation,
  type StoredResponse,
} from '@stowage/core';
import {
  ErrorSource,
  validateBoolean,
  validateDuration,
  validateFunction,
  validateInteger,
  validateOptionNames,
  validateOptions,
} from '@stowage/core/adapter-kit';
import { headerNameOption, tokenListOption } from './option-values.js';
import {
  callStore,
  reportStoreError,
  resolveFailurePolicy,
  storeFailure,
  type FailurePolicy,
  type ResolvedFailurePolicy,
} from './failure.js';
import { KeyHold, type KeyHoldSettings } from './key-hold.js';
import { problem, type ResponseDraft } from './problem.js';

const source = new ErrorSource('@stowage/middleware', 'idempotency');

export interface IdempotencyOptions extends FailurePolicy {
  store: IdempotencyStore;
  /** Answer 400 to a covered request without a key. @default false (no key: not idempotent, passes) */
  required?: boolean;
  /** Methods the middleware covers. @default ['POST', 'PATCH'] */
  methods?: readonly string[];
  /** The request header holding the key. @default 'Idempotency-Key' */
  headerName?: string;
  /**
   * The lease of a request in flight; a heartbeat extends it every third of it until the
   * handler ends (a client that hangs up does not end it), so a long handler keeps its key
   * and a crashed replica's key frees itself within `leaseMs`.
   * @default 30000
   */
  leaseMs?: number;
  /**
   * The longest a request holds its key while its handler has not ended: then the heartbeat
   * stops and the key lapses with its lease (at most `maxHoldMs + leaseMs` in all), so a
   * handler that never ends the response (a hung call, a `.pipe()` stopped by a client that
   * hung up) cannot block its key for ever; a retry after that may run the handler again.
   * Set it above your slowest handler. Also bounds the background retries of storing a
   * response. @default 300000 (5 min, like Node's own `server.requestTimeout`)
   */
  maxHoldMs?: number;
  /**
   * About how long a request usually runs: the `Retry-After` of the 409 answered while the
   * first request with the key runs (in whole seconds, at least 1; never more than the
   * lease left). @default 1000
   */
  inFlightRetryAfterMs?: number;
  /** How long a completed response is replayed. @default 86400000 (24 h) */
  retentionMs?: number;
  /** Which responses are kept for replay; others free the key for a retry. @default status < 500 */
  shouldStore?: (status: number) => boolean;
  /**
   * The statuses a request-timeout middleware answers with while the handler may still be
   * running (connect-timeout's 503, Hono's `timeout()` 504, a gateway's 504). Such a response,
   * when not kept (`shouldStore`), does not free the key: it stays held for `leaseMs` after
   * the answer, then lapses, so a retry meanwhile gets 409 instead of running the handler
   * beside the first run; a retry after that runs it again. A handler's own quick 503 then
   * also holds its key for `leaseMs`. A status `shouldStore` keeps is stored and replayed as
   * any other: list it here and exclude it there. `[]` frees the key at once for every
   * response not kept. @default [503, 504]
   */
  timeoutStatuses?: readonly number[];
  /**
   * Response headers never stored nor replayed (any case), besides hop-by-hop ones. A replay
   * leaves these as the replay request has them: the headers that describe the current
   * request, not the response, such as the rate-limit budget an earlier middleware set on
   * it. Add your own per-request headers (a request id) to keep them out of replays too.
   * Giving this option replaces the default list: spread it to add to it.
   * @default {@link DEFAULT_EXCLUDED_HEADERS}: `set-cookie`, `date`, and the rate-limit headers
   *   (`ratelimit`, `ratelimit-policy`, `x-ratelimit-*`...)
   */
  excludeHeaders?: readonly string[];
  /** Largest response kept (headers and body, UTF-8 bytes); larger ones free the key. @default 1048576 */
  maxResponseBytes?: number;
}

/** What the request carries, as a binding reads it. */
export interface IdempotentRequest {
  method: string;
  /** The path, for messages and `onStoreError` only (keys are not scoped by it). */
  path: string;
  /**
   * The full original path and query (not relative to a mount point), fingerprinted with the
   * method and body: the same key on another method, path or query is a mismatch (422).
   */
  url: string;
  /** The `Idempotency-Key` header value, if any. */
  key: string | undefined;
  /** Who asks (a user id, an API key id); keys of two principals never meet. */
  principal: string | undefined;
  body: Uint8Array | string | undefined;
}

export type IdempotencyVerdict =
  /** Not covered (method, or no key): run the handler as usual. */
  | { action: 'continue' }
  /** Answer this (replay, 400, 409, 422, 503). */
  | { action: 'respond'; response: ResponseDraft }
  /**
   * This request owns the key: run the handler, then `finish` with whatever it ended with
   * (stored if `shouldStore` allows and it fits, else the key is freed), or `abort` when it
   * ended without a response. Both (and `lapse`) resolve after their first store call, and
   * never reject (failures go to `onStoreError`; storing is retried in the background).
   */
  | {
      action: 'proceed';
      finish(response: StoredResponse): Promise<void>;
      abort(): Promise<void>;
      /**
       * Something outside the handler answered while it ran (an outer request timeout): its
       * outcome is unknown, so the key is neither stored nor freed; it lapses with its lease.
       */
      lapse(): Promise<void>;
    };

/**
 * The default `excludeHeaders`: cookies and the date, and the rate-limit headers (the IETF
 * draft's `RateLimit` / `RateLimit-Policy`, its earlier `RateLimit-Limit` / `-Remaining` /
 * `-Reset`, and the legacy `X-RateLimit-*`): they tell the budget left to the request that
 * carries them, so a replay must show its own, not the first run's.
 */
export const DEFAULT_EXCLUDED_HEADERS: readonly string[] = Object.freeze([
  'set-cookie',
  'date',
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'x-ratelimit-used',
]);

// Hop-by-hop and framing headers: never replayed as stored.
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'proxy-connection', 'te', 'trailer'];
/**
 * A key: an RFC 8941 sf-string of 1 to 255 characters (`"..."`, printable ASCII and spaces,
 * `\"` and `\\` escaped; no parameters), or, for clients that send it bare, 1 to 255
 * printable ASCII characters other than `"`, `,` and `;` (which would make it a malformed
 * sf-string, a list or a parameter). Anything else (`""`, `"abc`, `"abc";p=1`, two header
 * lines) is 400.
 */
const KEY = /^(?:"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\\"]){1,255})"|([\x21\x23-\x2b\x2d-\x3a\x3c-\x7e]{1,255}))$/;

/** `options.timeoutStatuses`, checked: HTTP statuses (integers 100 to 599). */
function statusList(value: unknown): number[] {
  if (!Array.isArray(value)) throw source.invalid('options.timeoutStatuses must be an array of HTTP statuses');
  // By index, not map: a hole in a sparse array is refused too.
  return Array.from({ length: value.length }, (_, i) => validateInteger(source, `options.timeoutStatuses[${i}]`, value[i], 100, 599));
}

/** Each option of {@link IdempotencyOptions}, once; a framework's own options come on top. */
const OPTION_NAMES: Readonly<Record<keyof IdempotencyOptions, true>> = {
  store: true,
  required: true,
  methods: true,
  headerName: true,
  leaseMs: true,
  maxHoldMs: true,
  inFlightRetryAfterMs: true,
  retentionMs: true,
  shouldStore: true,
  timeoutStatuses: true,
  excludeHeaders: true,
  maxResponseBytes: true,
  failOpen: true,
  onStoreError: true,
  timeoutMs: true,
};

/**
 * The IETF Idempotency-Key draft over any `IdempotencyStore`. Keys are scoped by principal
 * only (a key is unique per client, whatever route it is sent to). The first request with a
 * key runs and its response is kept; retries with the same key and request (method, full
 * path and query, body) get the response replayed (`Idempotent-Replayed: true`); a retry
 * while the first is running gets 409 with `Retry-After`; the same key with another method,
 * path, query or body gets 422, never a second run (routes that Express matches alike,
 * `/orders`, `/orders/`, `/ORDERS`, cannot run one key twice); a handler that fails (5xx, by
 * default) frees the key.
 * The key is held until the handler ends, whatever the client does meanwhile.
 */
export class IdempotencyGuard {
  readonly headerName: string;
  private readonly store: IdempotencyStore;
  private readonly required: boolean;
  private readonly methods: ReadonlySet<string>;
  /** Largest response kept: a binding may stop recording a response past it. */
  readonly maxResponseBytes: number;
  private readonly leaseMs: number;
  private readonly maxHoldMs: number;
  private readonly inFlightRetryAfterMs: number;
  private readonly retentionMs: number;
  private readonly shouldStore: (status: number) => boolean;
  private readonly timeoutStatuses: ReadonlySet<number>;
  private readonly excluded: ReadonlySet<string>;
  private readonly failure: ResolvedFailurePolicy;
  private readonly holdSettings: KeyHoldSettings;

  /** `frameworkOptions`: the names of the options a framework binding adds to these (checked with them). */
  constructor(options: IdempotencyOptions, frameworkOptions: Readonly<Record<string, true>> = {}) {
    const o = validateOptions<IdempotencyOptions>(source, 'options', options);
    validateOptionNames(source, 'options', o, { ...OPTION_NAMES, ...frameworkOptions });
    if (o.store === undefined || typeof o.store.reserve !== 'function') throw source.invalid('options.store must be an IdempotencyStore');
    this.store = o.store;
    this.required = validateBoolean(source, 'options.required', o.required, false);
    this.methods = new Set(tokenListOption(source, 'options.methods', o.methods, ['POST', 'PATCH']).map((m) => m.toUpperCase()));
    this.headerName = headerNameOption(source, 'options.headerName', o.headerName, 'Idempotency-Key');
    this.leaseMs = o.leaseMs === undefined ? 30_000 : validateDuration(source, 'options.leaseMs', o.leaseMs);
    this.maxHoldMs = o.maxHoldMs === undefined ? 300_000 : validateDuration(source, 'options.maxHoldMs', o.maxHoldMs);
    this.inFlightRetryAfterMs =
      o.inFlightRetryAfterMs === undefined ? 1000 : validateDuration(source, 'options.inFlightRetryAfterMs', o.inFlightRetryAfterMs);
    this.retentionMs = o.retentionMs === undefined ? 86_400_000 : validateDuration(source, 'options.retentionMs', o.retentionMs);
    this.shouldStore =
      validateFunction<(status: number) => boolean>(source, 'options.shouldStore', o.shouldStore) ?? ((status) => status < 500);
    this.timeoutStatuses = new Set(o.timeoutStatuses === undefined ? [503, 504] : statusList(o.timeoutStatuses));
    this.excluded = new Set([
      ...HOP_BY_HOP,
      ...tokenListOption(source, 'options.excludeHeaders', o.excludeHeaders, DEFAULT_EXCLUDED_HEADERS).map((h) => h.toLowerCase()),
    ]);
    this.maxResponseBytes =
      o.maxResponseBytes === undefined
        ? DEFAULT_MAX_RESPONSE_BYTES
        : validateInteger(source, 'options.maxResponseBytes', o.maxResponseBytes, 0);
    this.failure = resolveFailurePolicy(source, o);
    this.holdSettings = {
      leaseMs: this.leaseMs,
      maxHoldMs: this.maxHoldMs,
      retentionMs: this.retentionMs,
      timeoutMs: this.failure.timeoutMs,
    };
  }

  /** Whether the method is one this guard covers (the binding reads the body only then). */
  covers(method: string): boolean {
    return this.methods.has(method.toUpperCase());
  }

  async begin(req: IdempotentRequest): Promise<IdempotencyVerdict> {
    if (!this.covers(req.method)) return { action: 'continue' };
    if (req.key === undefined) {
      if (!this.required) return { action: 'continue' };
      return {
        action: 'respond',
        response: problem(
          400,
          'idempotency-key-missing',
          'Idempotency-Key is missing',
          `${req.method} ${req.path} requires an ${this.headerName} header`,
        ),
      };
    }
    const m = KEY.exec(req.key.trim());
    if (m === null) {
      return {
        action: 'respond',
        response: problem(
          400,
          'idempotency-key-invalid',
          'Idempotency-Key is invalid',
          'a key is a quoted string of 1 to 255 printable ASCII characters, ' +
            'or 1 to 255 printable ASCII characters without a double quote, comma or semicolon',
        ),
      };
    }
    // Both go to the store through toStoreKey: a scope the store cannot take (a principal
    // with U+0000 or a lone surrogate, over 1024 bytes) is hashed, never refused nor let through.
    const key = toStoreKey(m[1] !== undefined ? m[1].replace(/\\(["\\])/g, '$1') : m[2]!);
    // Scoped by principal alone: a scope of method and path let one key run once per spelling
    // of a route (`/orders`, `/orders/`, `/ORDERS` reach one Express handler). The method, path
    // and query are in the fingerprint instead, so another route with the key is 422.
    // '-' alone for no principal, '=' before a principal: the principal '-' is not nobody.
    const scope = toStoreKey(req.principal === undefined ? '-' : `=${req.principal}`);
    const fingerprint = fingerprintRequest({ method: req.method, path: req.url, ...(req.body === undefined ? {} : { body: req.body }) });
    const reservedAt = Date.now();
    let reservation: Reservation;
    try {
      reservation = await callStore(
        source,
        this.failure.timeoutMs,
        (deadline) => this.store.reserve(scope, key, fingerprint, { leaseMs: this.leaseMs, deadline }),
        (late) => this.releaseLate(req, scope, key, late),
      );
    } catch (err) {
      const response = storeFailure(this.failure, 'idempotency', req, err);
      return response === undefined ? { action: 'continue' } : { action: 'respond', response };
    }
    switch (reservation.state) {
      case 'completed': {
        const { status, headers, body } = reservation.response;
        // Excluded headers are not stored; one stored before it was excluded (an older
        // version, another replica's options) is not replayed either: the replay request's
        // own value, if an earlier middleware set one, stays.
        const replayed = headers.filter(([name]) => !this.excluded.has(name.toLowerCase()));
        return { action: 'respond', response: { status, headers: [...replayed, ['Idempotent-Replayed', 'true']], body } };
      }
      case 'in-flight': {
        const retryAfterMs = Math.min(this.inFlightRetryAfterMs, reservation.retryAfterMs);
        return {
          action: 'respond',
          response: problem(
            409,
            'idempotency-request-in-flight',
            'A request with this Idempotency-Key is being processed',
            'retry once it has completed',
            [['Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000)))]],
          ),
        };
      }
      case 'mismatch':
        return {
          action: 'respond',
          response: problem(
            422,
            'idempotency-key-reused',
            'Idempotency-Key reused with another request',
            'this key was used with another method, path, query or body',
          ),
        };
      case 'reserved': {
        const report = (err: unknown) => reportStoreError(this.failure, 'idempotency', req, err);
        const hold = new KeyHold(source, this.store, { scope, key, token: reservation.token, reservedAt }, this.holdSettings, report);
        return {
          action: 'proceed',
          finish: (response) => {
            const kept = this.keptResponse(response, report);
            // A timeout's answer does not say the handler has ended: the key lapses instead.
            if (kept === undefined && this.timeoutStatuses.has(response.status)) return hold.lapse();
            return hold.finish(kept);
          },
          abort: () => hold.finish(undefined),
          lapse: () => hold.lapse(),
        };
      }
    }
  }

  /**
   * A store that ignored the deadline reserved the key after the request was answered 503:
   * free it, or a retry would wait for a handler that never runs.
   */
  private releaseLate(req: IdempotentRequest, scope: string, key: string, late: Reservation): void {
    if (late.state !== 'reserved') return;
    callStore(source, this.failure.timeoutMs, (deadline) => this.store.release(scope, key, late.token, { deadline })).catch(
      (err: unknown) => reportStoreError(this.failure, 'idempotency', req, err),
    );
  }

  /** The response to keep, or `undefined` to free the key (not stored by policy, or too large). */
  private keptResponse(response: StoredResponse, report: (err: unknown) => void): StoredResponse | undefined {
    let keep: boolean;
    try {
      keep = this.shouldStore(response.status);
    } catch (err) {
      report(err); // a broken hook must not break the response: the key is freed
      return undefined;
    }
    if (!keep) return undefined;
    const headers = response.headers.filter(([name]) => !this.excluded.has(name.toLowerCase()));
    let size = response.body.byteLength;
    for (const [n, v] of headers) size += Buffer.byteLength(n) + Buffer.byteLength(v);
    return size > this.maxResponseBytes ? undefined : { status: response.status, headers, body: response.body };
  }
}
