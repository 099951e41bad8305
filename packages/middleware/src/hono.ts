import type { OwnOptionNames } from '@stowage/core/adapter-kit';
/**
 * Hono (Fetch API) bindings of the Stowage middleware.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorSource, validateFunction } from '@stowage/core/adapter-kit';
import type { Context, MiddlewareHandler } from 'hono';
import { CsrfProtection, type CsrfOptions } from './csrf.js';
import { IdempotencyGuard, type IdempotencyOptions } from './idempotency.js';
import type { ResponseDraft } from './problem.js';
import { RateLimiter, type RateLimiterOptions } from './rate-limit.js';

const source = new ErrorSource('@stowage/middleware', 'hono');

function toResponse(draft: ResponseDraft): Response {
  const body = typeof draft.body === 'string' ? draft.body : new Uint8Array(draft.body);
  const headers = new Headers();
  for (const [name, value] of draft.headers) headers.append(name, value);
  return new Response(draft.status === 204 || draft.status === 304 ? null : body, { status: draft.status, headers });
}

/**
 * The client address under `@hono/node-server`, or `undefined` for a client that hung up while
 * earlier middleware ran (Node forgets the address with the socket); other runtimes must pass `key`.
 */
function remoteAddress(c: Context): string | undefined {
  const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket;
  const address = socket?.remoteAddress;
  if (address === undefined && socket?.destroyed !== true) {
    throw source.invalid('rateLimit() cannot see the client address on this runtime: pass options.key');
  }
  return address;
}

/** The answer to a client that left before its address was read: nobody gets it, and the handler does not run. */
const CLIENT_GONE = 499;

export interface HonoRateLimitOptions extends RateLimiterOptions {
  /**
   * Whose budget a request spends; `undefined` skips the limit. @default the socket address
   * under @hono/node-server (a client that hung up before it was read gets 499 and the handler
   * does not run; without an address to read, `INVALID_ARGUMENT`: pass `key`)
   */
  key?: (c: Context) => string | undefined;
  /** Units a request costs. @default 1 */
  cost?: (c: Context) => number;
}

/** The options HonoRateLimitOptions adds. */
const HONO_RATE_LIMIT_OPTIONS: OwnOptionNames<HonoRateLimitOptions, RateLimiterOptions> = { key: true, cost: true };

/** Rate limits with `RateLimit-Policy` / `RateLimit` headers; 429 with `Retry-After` when denied. */
export function rateLimit(options: HonoRateLimitOptions): MiddlewareHandler {
  const limiter = new RateLimiter(options, HONO_RATE_LIMIT_OPTIONS);
  const keyOf = validateFunction<(c: Context) => string | undefined>(source, 'options.key', options.key);
  const costOf = validateFunction<(c: Context) => number>(source, 'options.cost', options.cost);
  return async (c, next) => {
    let key: string | undefined;
    if (keyOf !== undefined) {
      key = keyOf(c);
      if (key === undefined) return next();
    } else {
      key = remoteAddress(c);
      if (key === undefined) return new Response(null, { status: CLIENT_GONE });
    }
    const verdict = await limiter.check(key, { method: c.req.method, path: c.req.path }, costOf?.(c) ?? 1);
    if (verdict.action === 'respond') return toResponse(verdict.response);
    await next();
    // Joined to the policies another limiter set (RateLimit fields are lists), not replacing them.
    appendHeaders(c, verdict.headers);
  };
}

/**
 * Adds header lines to the handler's response. A response whose headers cannot change (from
 * `fetch()`, `Response.redirect()`) is copied first: same status, headers and body stream.
 */
function appendHeaders(c: Context, lines: readonly (readonly [string, string])[]): void {
  if (lines.length === 0) return;
  try {
    c.res.headers.append(lines[0]![0], lines[0]![1]);
  } catch {
    c.res = new Response(c.res.body, c.res);
    c.res.headers.append(lines[0]![0], lines[0]![1]);
  }
  for (const [name, value] of lines.slice(1)) c.res.headers.append(name, value);
}

/**
 * Whether the request was answered before this middleware returned, so by something around
 * it: under @hono/node-server, the Node response's head is out (Hono writes the response only
 * once the whole chain has returned); elsewhere, the response's body has been read (sent).
 * @hono/node-server's Response throws from `bodyUsed` when its stream is read or locked: sent.
 */
function answeredOutside(c: Context, res: Response): boolean {
  if ((c.env as { outgoing?: ServerResponse } | undefined)?.outgoing?.headersSent === true) return true;
  try {
    return res.bodyUsed || res.body?.locked === true;
  } catch {
    return true;
  }
}

export interface HonoIdempotencyOptions extends IdempotencyOptions {
  /** Who asks: keys are scoped by it alone (a key is unique per client). @default none (one scope for all) */
  principal?: (c: Context) => string | undefined;
}

/** The options HonoIdempotencyOptions adds. */
const HONO_IDEMPOTENCY_OPTIONS: OwnOptionNames<HonoIdempotencyOptions, IdempotencyOptions> = { principal: true };

/**
 * The Idempotency-Key draft. The key is held until the handler returns (a client that hangs
 * up meanwhile does not free it); its response, or the error handler's when it threw, is
 * stored (see `shouldStore`) before it is returned.
 */
export function idempotency(options: HonoIdempotencyOptions): MiddlewareHandler {
  const guard = new IdempotencyGuard(options, HONO_IDEMPOTENCY_OPTIONS);
  const principalOf = validateFunction<(c: Context) => string | undefined>(source, 'options.principal', options.principal);
  return async (c, next) => {
    if (!guard.covers(c.req.method)) return next();
    const url = new URL(c.req.url);
    const key = c.req.header(guard.headerName);
    // The body only with a key (its fingerprint), and read from a copy, so the handler can
    // still read `c.req.raw` too; read before (a validator), it comes from HonoRequest's cache.
    const body =
      key === undefined ? undefined : new Uint8Array(await (c.req.raw.bodyUsed ? c.req.arrayBuffer() : c.req.raw.clone().arrayBuffer()));
    const verdict = await guard.begin({
      method: c.req.method,
      path: c.req.path,
      url: url.pathname + url.search,
      key,
      principal: principalOf?.(c),
      body,
    });
    if (verdict.action === 'continue') return next();
    if (verdict.action === 'respond') return toResponse(verdict.response);
    try {
      await next();
    } catch (err) {
      await verdict.abort(); // no response to keep: the error escapes Hono's error handling
      throw err;
    }
    // A handler that threw has been answered by the error handler (c.error is set): that
    // response is what the client gets, so it is what is kept, subject to shouldStore.
    const res = c.res;
    // Already sent: an outer middleware (a timeout) answered while the handler ran, and Hono
    // dropped the handler's own response. Its outcome is unknown: the key lapses with its lease.
    if (answeredOutside(c, res)) return verdict.lapse();
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await res.clone().arrayBuffer());
    } catch (err) {
      await verdict.abort(); // the body failed while read: nothing to keep
      throw err;
    }
    await verdict.finish({ status: res.status, headers: [...res.headers], body: bytes });
  };
}

export interface HonoCsrfOptions extends CsrfOptions {
  /** The session the tokens are bound to (Hono has no sessions of its own). */
  sessionId: (c: Context) => string | undefined;
}

/** The options HonoCsrfOptions adds. */
const HONO_CSRF_OPTIONS: OwnOptionNames<HonoCsrfOptions, CsrfOptions> = { sessionId: true };

/**
 * CSRF synchronizer tokens bound to the session. Sets `c.get('csrfToken')`, a function
 * returning a new token; unsafe methods must send one back in the `X-CSRF-Token` header or
 * the `_csrf` field of a form body. Call `protection.revoke(oldId)` when the session id rotates.
 */
export function csrf(options: HonoCsrfOptions): MiddlewareHandler & { protection: CsrfProtection } {
  if (typeof options?.sessionId !== 'function') throw source.invalid('options.sessionId is required: Hono has no sessions of its own');
  const protection = new CsrfProtection(options, HONO_CSRF_OPTIONS);
  const handler: MiddlewareHandler = async (c, next) => {
    const sid = options.sessionId(c);
    c.set(
      'csrfToken' as never,
      (() => (sid === undefined ? Promise.reject(source.invalid('csrfToken() needs a session')) : protection.issue(sid))) as never,
    );
    if (!protection.protects(c.req.method)) return next();
    const header = c.req.header(protection.headerName);
    let token = protection.tokenOf(header, undefined);
    if (token === undefined) {
      const type = c.req.header('content-type') ?? '';
      if (type.startsWith('application/x-www-form-urlencoded') || type.startsWith('multipart/form-data')) {
        token = protection.tokenOf(header, await c.req.parseBody());
      }
    }
    const verdict = await protection.verify({ method: c.req.method, path: c.req.path }, sid, token);
    if (verdict.action === 'respond') return toResponse(verdict.response);
    await next();
  };
  return Object.assign(handler, { protection });
}
