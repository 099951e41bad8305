/**
 * Fastify plugins of the Stowage middleware: Idempotency-Key and CSRF tokens, over the same
 * framework-free core as the Express and Hono bindings.
 *
 * @module
 */
import { ErrorSource } from '@stowage/core/adapter-kit';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { CsrfProtection, type CsrfOptions } from './csrf.js';
import { type Capture, capturePayload, sendDraft, tapRequestBody } from './fastify-reply.js';
import { IdempotencyGuard, type IdempotencyOptions, type IdempotencyVerdict } from './idempotency.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the `csrf` plugin of `@stowage/middleware/fastify`: a new CSRF token for this request's session. */
    csrfToken: () => Promise<string>;
  }
}

const source = new ErrorSource('@stowage/middleware', 'fastify');

/**
 * Marks `plugin` as one whose hooks apply to the instance that registers it (what
 * `fastify-plugin` does, without depending on it), for Fastify 5.
 */
function unencapsulated<T extends object>(plugin: T, name: string): T {
  return Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: name,
    [Symbol.for('plugin-meta')]: { name, fastify: '5.x' },
  });
}

const pathOf = (request: FastifyRequest): string => request.url.split('?')[0]!;

type Proceed = Extract<IdempotencyVerdict, { action: 'proceed' }>;

export interface FastifyIdempotencyOptions extends IdempotencyOptions {
  /** Who asks: keys are scoped by it alone (a key is unique per client). @default none (one scope for all) */
  principal?: (request: FastifyRequest) => string | undefined;
}

/**
 * The Idempotency-Key draft as a Fastify plugin: `await app.register(idempotency, { store })`.
 * Its hooks apply to the instance that registers it (and its children), so register it
 * where the routes to cover are, after hooks that set the principal. The body's bytes are
 * fingerprinted as they came (`preParsing`); the key is reserved in `preHandler` and held
 * until the handler replies, even if the client hangs up first; what the reply is at this
 * plugin's `onSend` hook (status, headers, body; a stream is read to its end) is stored (see
 * `shouldStore`) before it is sent, and replayed as it was sent. A reply that never reaches
 * `onSend` (`reply.hijack()`) is not recorded: the key is freed when it finishes.
 */
export const idempotency: FastifyPluginAsync<FastifyIdempotencyOptions> = unencapsulated(async (fastify, options) => {
  if (options?.principal !== undefined && typeof options.principal !== 'function') {
    throw source.invalid('options.principal must be a function');
  }
  const guard = new IdempotencyGuard(options);
  const header = guard.headerName.toLowerCase();
  const bodies = new WeakMap<FastifyRequest, Buffer[]>();
  const running = new WeakMap<FastifyRequest, Proceed>();
  // Replays whose stored response has no Content-Type: Fastify adds one on send, taken off in onSend.
  const untyped = new WeakSet<FastifyRequest>();

  fastify.addHook('preParsing', async (request, _reply, payload) => {
    if (!guard.covers(request.method)) return payload;
    const chunks: Buffer[] = [];
    bodies.set(request, chunks);
    return tapRequestBody(payload, chunks);
  });

  fastify.addHook('preHandler', async (request, reply) => {
    if (!guard.covers(request.method)) return;
    const raw = request.headers[header];
    const chunks = bodies.get(request);
    bodies.delete(request);
    const verdict = await guard.begin({
      method: request.method,
      path: pathOf(request),
      url: request.originalUrl,
      key: Array.isArray(raw) ? raw.join(', ') : raw,
      principal: options.principal?.(request),
      body: chunks === undefined || chunks.length === 0 ? undefined : Buffer.concat(chunks),
    });
    if (verdict.action === 'continue') return;
    if (verdict.action === 'respond') {
      const { headers, body } = verdict.response;
      if (body.length > 0 && !headers.some(([name]) => name.toLowerCase() === 'content-type')) untyped.add(request);
      return sendDraft(reply, verdict.response); // returning the reply stops Fastify's lifecycle there
    }
    running.set(request, verdict);
  });

  fastify.addHook('onSend', async (request, reply, payload) => {
    if (untyped.delete(request)) reply.removeHeader('content-type');
    const verdict = running.get(request);
    if (verdict === undefined) return payload; // not ours, or already recorded (an error reply after it)
    running.delete(request);
    let capture: Capture;
    try {
      capture = capturePayload(reply, payload, guard.maxResponseBytes, (response) =>
        response === undefined ? verdict.abort() : verdict.finish(response),
      );
    } catch (err) {
      await verdict.abort(); // a payload Fastify cannot send either (a Response already read): its error reply follows
      throw err;
    }
    // A string or Buffer is sent once stored; a stream ends once stored (see capturePayload).
    if (capture.streamed) return capture.payload;
    // Meanwhile the reply must count as sent, or a second send (or the error reply of a
    // handler that throws after sending) would go out instead of what is being stored.
    const status = reply.statusCode;
    const raw = reply.raw;
    Object.defineProperty(raw, 'writableEnded', { configurable: true, get: () => true });
    try {
      await capture.recorded;
    } finally {
      delete (raw as { writableEnded?: boolean }).writableEnded;
      if (reply.statusCode !== status) reply.code(status); // what was stored is what is sent
    }
    return capture.payload;
  });

  // A reply that bypassed onSend (hijacked) has finished: nothing was recorded, free the key.
  fastify.addHook('onResponse', async (request) => {
    const verdict = running.get(request);
    if (verdict === undefined) return;
    running.delete(request);
    await verdict.abort();
  });
}, '@stowage/middleware/fastify idempotency');

export interface FastifyCsrfOptions extends CsrfOptions {
  /** The session the tokens are bound to. @default `request.session.sessionId` (@fastify/session) */
  sessionId?: (request: FastifyRequest) => string | undefined;
}

type SessionLike = { sessionId?: unknown; set?: (key: string, value: unknown) => void; csrf?: unknown } | null | undefined;
const sessionOf = (request: FastifyRequest): SessionLike => (request as unknown as { session?: SessionLike }).session;

function defaultSessionId(request: FastifyRequest): string | undefined {
  const id = sessionOf(request)?.sessionId;
  return typeof id === 'string' ? id : undefined;
}

/**
 * CSRF synchronizer tokens bound to the session, as a Fastify plugin:
 * `await app.register(csrf, { store })`. Adds `request.csrfToken()` (a new token for the
 * page); unsafe methods must send one back in the `X-CSRF-Token` header or the `_csrf` field
 * of a parsed body (`@fastify/formbody`), checked in `preHandler`, else 403. With
 * `@fastify/session` the session is found by itself, and issuing a token marks the session
 * modified (`csrf: true`) so that it is saved. When a request changes its session id
 * (`request.session.regenerate()`, `destroy()`, or your `sessionId` answering another id
 * by the reply), the old id's tokens are revoked.
 */
export const csrf: FastifyPluginAsync<FastifyCsrfOptions> = unencapsulated(async (fastify, options) => {
  if (options?.sessionId !== undefined && typeof options.sessionId !== 'function') {
    throw source.invalid('options.sessionId must be a function');
  }
  const protection = new CsrfProtection(options);
  const header = protection.headerName.toLowerCase();
  const sessionIdOf = options.sessionId ?? defaultSessionId;
  const checkedIds = new WeakMap<FastifyRequest, string>();
  if (!fastify.hasRequestDecorator('csrfToken')) fastify.decorateRequest('csrfToken', null as never);

  fastify.addHook('onRequest', async (request) => {
    request.csrfToken = () => {
      const sid = sessionIdOf(request);
      if (sid === undefined) {
        return Promise.reject(
          source.invalid('csrfToken() needs a session (is @fastify/session registered before csrf, or sessionId set?)'),
        );
      }
      const session = sessionOf(request);
      if (session !== null && typeof session === 'object') {
        if (typeof session.set === 'function') session.set('csrf', true);
        else session.csrf = true;
      }
      return protection.issue(sid);
    };
  });

  fastify.addHook('preHandler', async (request, reply) => {
    const sid = sessionIdOf(request);
    if (sid !== undefined) checkedIds.set(request, sid);
    const token = protection.tokenOf(request.headers[header], request.body);
    const verdict = await protection.verify({ method: request.method, path: pathOf(request) }, sid, token);
    if (verdict.action === 'respond') return sendDraft(reply, verdict.response);
  });

  // The session id the request started with is gone (rotated or destroyed): revoke its tokens.
  fastify.addHook('onSend', async (request, _reply, payload) => {
    const before = checkedIds.get(request);
    if (before === undefined) return payload;
    checkedIds.delete(request);
    let after: string | undefined;
    try {
      after = sessionIdOf(request);
    } catch {
      after = undefined;
    }
    if (after !== before) protection.revokeInBackground(before, { method: request.method, path: pathOf(request) });
    return payload;
  });
}, '@stowage/middleware/fastify csrf');
