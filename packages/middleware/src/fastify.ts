import { type OwnOptionNames, validateFunction } from '@stowage/core/adapter-kit';
/**
 * Fastify plugins of the Stowage middleware: Idempotency-Key and CSRF tokens, over the same
 * framework-free core as the Express and Hono bindings.
 *
 * @module
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { CsrfProtection, type CsrfOptions } from './csrf.js';
import { pathOf, source, unencapsulated } from './fastify-plugin.js';
import { sendDraft } from './fastify-reply.js';

export { type FastifyIdempotencyOptions, idempotency } from './fastify-idempotency.js';
import { FASTIFY_REGISTER_OPTIONS } from './fastify-idempotency.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the `csrf` plugin of `@stowage/middleware/fastify`: a new CSRF token for this request's session. */
    csrfToken: () => Promise<string>;
  }
}

export interface FastifyCsrfOptions extends CsrfOptions {
  /** The session the tokens are bound to. @default `request.session.sessionId` (@fastify/session) */
  sessionId?: (request: FastifyRequest) => string | undefined;
}

/** The options FastifyCsrfOptions adds. */
const FASTIFY_CSRF_OPTIONS: OwnOptionNames<FastifyCsrfOptions, CsrfOptions> = { sessionId: true };

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
  const protection = new CsrfProtection(options, { ...FASTIFY_CSRF_OPTIONS, ...FASTIFY_REGISTER_OPTIONS });
  const header = protection.headerName.toLowerCase();
  const sessionIdOf =
    validateFunction<(request: FastifyRequest) => string | undefined>(source, 'options.sessionId', options.sessionId) ?? defaultSessionId;
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
