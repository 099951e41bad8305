import type { OwnOptionNames } from '@stowage/core/adapter-kit';
/**
 * Express (and Connect) bindings of the Stowage middleware.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorSource, validateFunction } from '@stowage/core/adapter-kit';
import { CsrfProtection, type CsrfOptions } from './csrf.js';
import { IdempotencyGuard, type IdempotencyOptions } from './idempotency.js';
import { setHeaderLines } from './node-headers.js';
import type { ResponseDraft } from './problem.js';
import { RateLimiter, type RateLimiterOptions } from './rate-limit.js';
import { recordResponse } from './response-recorder.js';

const source = new ErrorSource('@stowage/middleware', 'express');

/**
 * The parts of an Express request the middleware reads (loosely typed, so that Express's
 * own `Request`, with or without express-session's typings, fits).
 */
export interface ExpressRequest extends IncomingMessage {
  path?: string;
  originalUrl?: string;
  ip?: string | undefined;
  body?: any;
  /** The raw body, when a body parser kept it (`express.json({ verify: (req, _res, buf) => (req.rawBody = buf) })`). */
  rawBody?: Uint8Array;
  /** express-session's session id. */
  sessionID?: string;
  /** express-session's session (its `regenerate` and `destroy` are wrapped by `csrf()`). */
  session?: any;
  /** Set by `csrf()`: a new token for this request's session. */
  csrfToken?: () => Promise<string>;
}

export type NextFunction = (err?: unknown) => void;
export type ExpressMiddleware = (req: ExpressRequest, res: ServerResponse, next: NextFunction) => void;

const pathOf = (req: ExpressRequest): string => req.path ?? (req.url ?? '/').split('?')[0]!;
const urlOf = (req: ExpressRequest): string => req.originalUrl ?? req.url ?? '/';

/**
 * Whether the response was answered by something else while the store decided (a request
 * timeout middleware's 503): the request is over, so its verdict neither answers nor goes on
 * to the handler (which would act for a client already told otherwise).
 */
const answeredMeanwhile = (res: ServerResponse): boolean => res.headersSent || res.writableEnded;

function send(res: ServerResponse, draft: ResponseDraft): void {
  res.statusCode = draft.status;
  setHeaderLines(res, draft.headers);
  res.end(typeof draft.body === 'string' ? draft.body : Buffer.from(draft.body.buffer, draft.body.byteOffset, draft.body.byteLength));
}

export interface ExpressRateLimitOptions extends RateLimiterOptions {
  /**
   * Whose budget a request spends; `undefined` skips the limit. @default the client IP
   * (`req.ip`, else the socket's address). A request whose address cannot be read never
   * skips the limit: a client that hung up while earlier middleware ran (Node forgets the
   * address with the socket) goes no further, and a live connection without one (a Unix
   * socket) is `INVALID_ARGUMENT` (pass `key`).
   */
  key?: (req: ExpressRequest) => string | undefined;
  /** Units a request costs. @default 1 */
  cost?: (req: ExpressRequest) => number;
}

/** The options ExpressRateLimitOptions adds. */
const EXPRESS_RATE_LIMIT_OPTIONS: OwnOptionNames<ExpressRateLimitOptions, RateLimiterOptions> = { key: true, cost: true };

/** Rate limits with `RateLimit-Policy` / `RateLimit` headers; 429 with `Retry-After` when denied. */
export function rateLimit(options: ExpressRateLimitOptions): ExpressMiddleware {
  const limiter = new RateLimiter(options, EXPRESS_RATE_LIMIT_OPTIONS);
  const keyOf = validateFunction<(req: ExpressRequest) => string | undefined>(source, 'options.key', options.key);
  const costOf = validateFunction<(req: ExpressRequest) => number>(source, 'options.cost', options.cost);
  return (req, res, next) => {
    let key: string | undefined;
    if (keyOf !== undefined) {
      key = keyOf(req);
      if (key === undefined) return next();
    } else {
      key = req.ip ?? req.socket.remoteAddress;
      if (key === undefined) {
        // Gone: nobody to answer, and letting it through would spend no budget.
        if (req.socket.destroyed) return;
        return next(source.invalid('rateLimit() cannot see the client address (a Unix socket?): pass options.key'));
      }
    }
    limiter
      .check(key, { method: req.method ?? 'GET', path: pathOf(req) }, costOf?.(req) ?? 1)
      .then((verdict) => {
        if (answeredMeanwhile(res)) return;
        if (verdict.action === 'respond') return send(res, verdict.response);
        // Joined to the policies another limiter set (RateLimit fields are lists), not replacing them.
        for (const [name, value] of verdict.headers) res.appendHeader(name, value);
        next();
      })
      .catch(next);
  };
}

export interface ExpressIdempotencyOptions extends IdempotencyOptions {
  /** Who asks: keys are scoped by it alone (a key is unique per client). @default none (one scope for all) */
  principal?: (req: ExpressRequest) => string | undefined;
}

/** The options ExpressIdempotencyOptions adds. */
const EXPRESS_IDEMPOTENCY_OPTIONS: OwnOptionNames<ExpressIdempotencyOptions, IdempotencyOptions> = { principal: true };

/**
 * The Idempotency-Key draft. Put it after your body parser; the fingerprint uses
 * `req.rawBody` when kept, else the parsed body as JSON. The key is held until the handler
 * ends the response (or Express's error handling does), even if the client hangs up first;
 * what it ends with is stored (see `shouldStore`) and replayed as it was sent.
 */
export function idempotency(options: ExpressIdempotencyOptions): ExpressMiddleware {
  const guard = new IdempotencyGuard(options, EXPRESS_IDEMPOTENCY_OPTIONS);
  const principalOf = validateFunction<(req: ExpressRequest) => string | undefined>(source, 'options.principal', options.principal);
  const header = guard.headerName.toLowerCase();
  return (req, res, next) => {
    if (!guard.covers(req.method ?? 'GET')) return next();
    const raw = req.headers[header];
    const key = Array.isArray(raw) ? raw.join(', ') : raw;
    const body = req.rawBody ?? (req.body === undefined ? undefined : JSON.stringify(req.body));
    guard
      .begin({ method: req.method ?? 'GET', path: pathOf(req), url: urlOf(req), key, principal: principalOf?.(req), body })
      .then((verdict) => {
        if (answeredMeanwhile(res)) {
          // The handler will not run for this key: free it for a retry.
          if (verdict.action === 'proceed') void verdict.abort();
          return;
        }
        if (verdict.action === 'continue') return next();
        if (verdict.action === 'respond') return send(res, verdict.response);
        recordResponse(res, guard.maxResponseBytes, (recorded) =>
          recorded.kind === 'response' ? verdict.finish(recorded.response) : verdict.abort(),
        );
        next();
      })
      .catch(next);
  };
}

export interface ExpressCsrfOptions extends CsrfOptions {
  /** The session the tokens are bound to. @default `req.sessionID` (express-session) */
  sessionId?: (req: ExpressRequest) => string | undefined;
}

/** The options ExpressCsrfOptions adds. */
const EXPRESS_CSRF_OPTIONS: OwnOptionNames<ExpressCsrfOptions, CsrfOptions> = { sessionId: true };

/**
 * CSRF synchronizer tokens bound to the session. Adds `req.csrfToken()` (a new token for
 * the page); unsafe methods must send one back in the `X-CSRF-Token` header or the
 * `_csrf` field of a parsed form. With express-session, `req.session.regenerate()` and
 * `destroy()` revoke the old session's tokens, and issuing a token marks the session
 * modified (`csrf: true`) so that it is saved and its cookie set.
 */
export function csrf(options: ExpressCsrfOptions): ExpressMiddleware & { protection: CsrfProtection } {
  const protection = new CsrfProtection(options, EXPRESS_CSRF_OPTIONS);
  const header = protection.headerName.toLowerCase();
  const sessionIdOf =
    validateFunction<(req: ExpressRequest) => string | undefined>(source, 'options.sessionId', options.sessionId) ??
    ((req: ExpressRequest) => req.sessionID);
  const handler: ExpressMiddleware = (req, res, next) => {
    const sid = sessionIdOf(req);
    const session = req.session;
    req.csrfToken = () => {
      const current = sessionIdOf(req);
      if (current === undefined)
        return Promise.reject(source.invalid('csrfToken() needs a session (is express-session mounted before csrf()?)'));
      if (req.session !== undefined && req.session !== null) req.session.csrf = true;
      return protection.issue(current);
    };
    if (session !== undefined && sid !== undefined)
      revokeOnRotation(session, sid, protection, { method: req.method ?? 'GET', path: pathOf(req) });
    const token = protection.tokenOf(req.headers[header], req.body);
    protection
      .verify({ method: req.method ?? 'GET', path: pathOf(req) }, sid, token)
      .then((verdict) => {
        if (answeredMeanwhile(res)) return;
        if (verdict.action === 'respond') return send(res, verdict.response);
        next();
      })
      .catch(next);
  };
  return Object.assign(handler, { protection });
}

type SessionMethods = Record<'regenerate' | 'destroy', ((cb: (err?: unknown) => void) => unknown) | undefined>;

function revokeOnRotation(
  session: SessionMethods,
  sid: string,
  protection: CsrfProtection,
  request: { method: string; path: string },
): void {
  for (const method of ['regenerate', 'destroy'] as const) {
    const original = session[method];
    if (typeof original !== 'function') continue;
    session[method] = function (this: unknown, cb: (err?: unknown) => void) {
      return original.call(this, (err?: unknown) => {
        if (err === undefined || err === null) protection.revokeInBackground(sid, request);
        cb?.(err);
      });
    };
  }
}
