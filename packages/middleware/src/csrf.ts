import { toStoreKey, type CsrfTokenStore } from '@stowage/core';
import {
  ErrorSource,
  validateBoolean,
  validateDuration,
  validateOptionNames,
  validateOptions,
  validateString,
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
import { problem, type ResponseDraft } from './problem.js';

const source = new ErrorSource('@stowage/middleware', 'csrf');

export interface CsrfOptions extends FailurePolicy {
  store: CsrfTokenStore;
  /** How long an issued token is valid. @default 7200000 (2 h) */
  ttlMs?: number;
  /** Request header carrying the token (for fetch / XHR). @default 'X-CSRF-Token' */
  headerName?: string;
  /** Form field carrying the token (for HTML forms). @default '_csrf' */
  fieldName?: string;
  /** A token validates only once (per-request tokens). @default false (valid until it expires) */
  consume?: boolean;
  /** Methods that need a token. @default ['POST', 'PUT', 'PATCH', 'DELETE'] */
  methods?: readonly string[];
}

export type CsrfVerdict = { action: 'continue' } | { action: 'respond'; response: ResponseDraft };

/** Each option of {@link CsrfOptions}, once; a framework's own options come on top. */
const OPTION_NAMES: Readonly<Record<keyof CsrfOptions, true>> = {
  store: true,
  ttlMs: true,
  headerName: true,
  fieldName: true,
  consume: true,
  methods: true,
  failOpen: true,
  onStoreError: true,
  timeoutMs: true,
};

/**
 * Synchronizer-token CSRF protection: tokens are issued to a session (only their hash is
 * stored), unsafe methods must echo a valid one in a header or form field, and the tokens
 * of a session are revoked when its id rotates (login, logout). Any string is a session id:
 * it goes to the store through core's `toStoreKey`.
 */
export class CsrfProtection {
  readonly headerName: string;
  readonly fieldName: string;
  private readonly store: CsrfTokenStore;
  private readonly ttlMs: number;
  private readonly consume: boolean;
  private readonly methods: ReadonlySet<string>;
  private readonly failure: ResolvedFailurePolicy;

  /** `frameworkOptions`: the names of the options a framework binding adds to these (checked with them). */
  constructor(options: CsrfOptions, frameworkOptions: Readonly<Record<string, true>> = {}) {
    const o = validateOptions<CsrfOptions>(source, 'options', options);
    validateOptionNames(source, 'options', o, { ...OPTION_NAMES, ...frameworkOptions });
    if (o.store === undefined || typeof o.store.issue !== 'function') throw source.invalid('options.store must be a CsrfTokenStore');
    this.store = o.store;
    this.ttlMs = o.ttlMs === undefined ? 7_200_000 : validateDuration(source, 'options.ttlMs', o.ttlMs);
    this.headerName = headerNameOption(source, 'options.headerName', o.headerName, 'X-CSRF-Token');
    this.fieldName = o.fieldName === undefined ? '_csrf' : validateString(source, 'options.fieldName', o.fieldName, 256, 1);
    this.consume = validateBoolean(source, 'options.consume', o.consume, false);
    this.methods = new Set(
      tokenListOption(source, 'options.methods', o.methods, ['POST', 'PUT', 'PATCH', 'DELETE']).map((m) => m.toUpperCase()),
    );
    this.failure = resolveFailurePolicy(source, o);
  }

  /** Whether `method` needs a token. */
  protects(method: string): boolean {
    return this.methods.has(method.toUpperCase());
  }

  /** A new token for the session, to put in a form or hand to the page's script. */
  issue(sessionId: string): Promise<string> {
    return callStore(source, this.failure.timeoutMs, (deadline) =>
      this.store.issue(toStoreKey(sessionId), { ttlMs: this.ttlMs, deadline }),
    );
  }

  /** Forgets every token of the session: call it when the session id rotates or ends. */
  revoke(sessionId: string): Promise<number> {
    return callStore(source, this.failure.timeoutMs, (deadline) => this.store.revoke(toStoreKey(sessionId), { deadline }));
  }

  /**
   * `revoke` without waiting (the session rotation goes on; the tokens expire anyway), its
   * failure reported to `onStoreError`.
   */
  revokeInBackground(sessionId: string, request: { method: string; path: string }): void {
    this.revoke(sessionId).catch((err: unknown) => reportStoreError(this.failure, 'csrf', request, err));
  }

  /**
   * The token a request sends: the header's (its first line) unless empty, else the form
   * field of `body` (a parsed form or object), so an empty header hides no field.
   */
  tokenOf(header: string | readonly string[] | undefined, body: unknown): unknown {
    const value = typeof header === 'string' ? header : header?.[0];
    if (value !== undefined && value.trim() !== '') return value;
    return body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[this.fieldName] : undefined;
  }

  async verify(request: { method: string; path: string }, sessionId: string | undefined, token: unknown): Promise<CsrfVerdict> {
    if (!this.protects(request.method)) return { action: 'continue' };
    const refuse = (detail: string): CsrfVerdict => ({
      action: 'respond',
      response: problem(403, 'csrf-token-invalid', 'CSRF token missing or invalid', detail),
    });
    if (sessionId === undefined) return refuse('there is no session to check the token against');
    if (typeof token !== 'string' || token.length === 0)
      return refuse(`send the token in the ${this.headerName} header or the ${this.fieldName} field`);
    let valid: boolean;
    try {
      valid = await callStore(source, this.failure.timeoutMs, (deadline) =>
        this.store.validate(toStoreKey(sessionId), token, { consume: this.consume, deadline }),
      );
    } catch (err) {
      const response = storeFailure(this.failure, 'csrf', request, err);
      return response === undefined ? { action: 'continue' } : { action: 'respond', response };
    }
    return valid ? { action: 'continue' } : refuse('the token was not issued to this session, or has expired');
  }
}
