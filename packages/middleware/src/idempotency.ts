import {
  DEFAULT_MAX_RESPONSE_BYTES,
  ErrorSource,
  fingerprintRequest,
  validateDuration,
  validateOptions,
  type IdempotencyStore,
  type StoredResponse,
} from '@stowage/core';
import { resolveFailurePolicy, storeFailure, withTimeout, type FailurePolicy, type ResolvedFailurePolicy } from './failure.js';
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
   * The lease of a request in flight; a heartbeat extends it every third of it while the
   * handler runs, so a long handler keeps its key and a crashed replica's key frees itself.
   * @default 30000
   */
  leaseMs?: number;
  /** How long a completed response is replayed. @default 86400000 (24 h) */
  retentionMs?: number;
  /** Which responses are kept for replay; others free the key for a retry. @default status < 500 */
  shouldStore?: (status: number) => boolean;
  /** Response headers never stored nor replayed (lower case), besides hop-by-hop ones. @default ['set-cookie', 'date'] */
  excludeHeaders?: readonly string[];
  /** Largest response kept (headers and body); larger ones free the key. @default 1048576 */
  maxResponseBytes?: number;
}

/** What the request carries, as a binding reads it. */
export interface IdempotentRequest {
  method: string;
  /** The path; keys are scoped by it. */
  path: string;
  /** Path and query, fingerprinted with the method and body. */
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
  /** This request owns the key: run the handler, then `finish` with its response (or `abort`). */
  | { action: 'proceed'; finish(response: StoredResponse): Promise<void>; abort(): Promise<void> };

// Hop-by-hop and framing headers: never replayed as stored.
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'proxy-connection', 'te', 'trailer'];
// An sf-string (RFC 8941) or a bare token of printable ASCII, at most 255 characters.
const KEY = /^(?:"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\\"]){1,255})"|([\x21-\x7e]{1,255}))$/;

/**
 * The IETF Idempotency-Key draft over any `IdempotencyStore`: the first request with a key
 * runs and its response is kept; retries with the same key and payload get the response
 * replayed (`Idempotent-Replayed: true`); a retry while the first is running gets 409 with
 * `Retry-After`; the same key with another payload gets 422; a failed handler frees the key.
 */
export class IdempotencyGuard {
  readonly headerName: string;
  private readonly store: IdempotencyStore;
  private readonly required: boolean;
  private readonly methods: ReadonlySet<string>;
  private readonly leaseMs: number;
  private readonly retentionMs: number;
  private readonly shouldStore: (status: number) => boolean;
  private readonly excluded: ReadonlySet<string>;
  private readonly maxResponseBytes: number;
  private readonly failure: ResolvedFailurePolicy;

  constructor(options: IdempotencyOptions) {
    const o = validateOptions<IdempotencyOptions>(source, 'options', options);
    if (o.store === undefined || typeof o.store.reserve !== 'function') throw source.invalid('options.store must be an IdempotencyStore');
    this.store = o.store;
    this.required = o.required === true;
    this.methods = new Set((o.methods ?? ['POST', 'PATCH']).map((m) => m.toUpperCase()));
    this.headerName = o.headerName ?? 'Idempotency-Key';
    this.leaseMs = o.leaseMs === undefined ? 30_000 : validateDuration(source, 'options.leaseMs', o.leaseMs);
    this.retentionMs = o.retentionMs === undefined ? 86_400_000 : validateDuration(source, 'options.retentionMs', o.retentionMs);
    this.shouldStore = o.shouldStore ?? ((status) => status < 500);
    this.excluded = new Set([...HOP_BY_HOP, ...(o.excludeHeaders ?? ['set-cookie', 'date']).map((h) => h.toLowerCase())]);
    this.maxResponseBytes = o.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.failure = resolveFailurePolicy(source, o);
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
        response: problem(400, 'idempotency-key-missing', 'Idempotency-Key is missing', `${req.method} ${req.path} requires an ${this.headerName} header`),
      };
    }
    const m = KEY.exec(req.key.trim());
    if (m === null) {
      return {
        action: 'respond',
        response: problem(400, 'idempotency-key-invalid', 'Idempotency-Key is invalid', 'a key is 1 to 255 printable ASCII characters, optionally quoted'),
      };
    }
    const key = m[1] !== undefined ? m[1].replace(/\\(["\\])/g, '$1') : m[2]!;
    const scope = `${req.principal ?? '-'}\n${req.method.toUpperCase()} ${req.path}`;
    const fingerprint = fingerprintRequest({ method: req.method, path: req.url, ...(req.body === undefined ? {} : { body: req.body }) });
    let reservation;
    try {
      reservation = await withTimeout(source, this.store.reserve(scope, key, fingerprint, { leaseMs: this.leaseMs }), this.failure.timeoutMs);
    } catch (err) {
      const response = storeFailure(this.failure, 'idempotency', req, err);
      return response === undefined ? { action: 'continue' } : { action: 'respond', response };
    }
    switch (reservation.state) {
      case 'completed': {
        const { status, headers, body } = reservation.response;
        const replay: Record<string, string> = {};
        for (const [name, value] of headers) replay[name] = replay[name] === undefined ? value : `${replay[name]}, ${value}`;
        replay['Idempotent-Replayed'] = 'true';
        return { action: 'respond', response: { status, headers: replay, body } };
      }
      case 'in-flight':
        return {
          action: 'respond',
          response: problem(409, 'idempotency-request-in-flight', 'A request with this Idempotency-Key is being processed', 'retry once it has completed', {
            'Retry-After': String(Math.max(1, Math.ceil(reservation.retryAfterMs / 1000))),
          }),
        };
      case 'mismatch':
        return {
          action: 'respond',
          response: problem(422, 'idempotency-key-reused', 'Idempotency-Key reused with another request', 'this key was used with a different method, path or body'),
        };
      case 'reserved':
        return this.proceed(req, scope, key, reservation.token);
    }
  }

  private proceed(req: IdempotentRequest, scope: string, key: string, token: string): IdempotencyVerdict {
    let settled = false;
    // Heartbeat: the lease outlives a slow handler, but not a dead replica.
    const heartbeat = setInterval(() => {
      this.store.extend(scope, key, token, this.leaseMs).then(
        (held) => {
          if (!held) clearInterval(heartbeat);
        },
        (err: unknown) => storeFailure(this.failure, 'idempotency', req, err),
      );
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    heartbeat.unref();
    const settle = async (work: () => Promise<unknown>): Promise<void> => {
      if (settled) return;
      settled = true;
      clearInterval(heartbeat);
      try {
        await work();
      } catch (err) {
        storeFailure(this.failure, 'idempotency', req, err); // the response is already on its way
      }
    };
    return {
      action: 'proceed',
      finish: (response) =>
        settle(() => {
          const kept = this.keptResponse(response);
          return kept === undefined
            ? this.store.release(scope, key, token)
            : this.store.complete(scope, key, token, kept, { retentionMs: this.retentionMs });
        }),
      abort: () => settle(() => this.store.release(scope, key, token)),
    };
  }

  /** The response to keep, or `undefined` to free the key (not stored by policy, or too large). */
  private keptResponse(response: StoredResponse): StoredResponse | undefined {
    if (!this.shouldStore(response.status)) return undefined;
    const headers = response.headers.filter(([name]) => !this.excluded.has(name.toLowerCase()));
    let size = response.body.byteLength;
    for (const [n, v] of headers) size += n.length + v.length;
    return size > this.maxResponseBytes ? undefined : { status: response.status, headers, body: response.body };
  }
}
