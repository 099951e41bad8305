import type { StoredResponse } from '@stowage/core';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onSendHookHandler } from 'fastify';
import { pathOf, source, unencapsulated } from './fastify-plugin.js';
import { type Capture, capturePayload, replyHeaderLines, restoreReplyHeaderLines, sendDraft, tapRequestBody } from './fastify-reply.js';
import { IdempotencyGuard, type IdempotencyOptions, type IdempotencyVerdict } from './idempotency.js';

type Proceed = Extract<IdempotencyVerdict, { action: 'proceed' }>;

export interface FastifyIdempotencyOptions extends IdempotencyOptions {
  /** Who asks: keys are scoped by it alone (a key is unique per client). @default none (one scope for all) */
  principal?: (request: FastifyRequest) => string | undefined;
}

/** Marks the routes that end their `onSend` hooks with the plugin's `commit`. */
const COMMITS = Symbol('@stowage/middleware idempotency commit');

/** A request's reply on its way out: recorded, not yet stored. */
interface Outgoing {
  verdict: Proceed;
  /** A later reply took its place (a second send, the error reply of a handler or hook that threw). */
  replaced: boolean;
  /** A string, a Buffer or nothing, stored by `commit`; a stream stores itself at its end. */
  response?: StoredResponse | undefined;
  /** A stream's: stops it handing anything more to the response. */
  detach?: () => void;
}

/**
 * Makes the reply count as sent (`reply.sent`) until `letGo`: from this plugin's `onSend` to
 * its storing, a second send, or the error reply of a handler that throws after sending, must
 * not go out instead of what is being stored. (Not for a stream: Fastify would take it as
 * finished before piping it.)
 */
function hold(reply: FastifyReply): void {
  Object.defineProperty(reply.raw, 'writableEnded', { configurable: true, get: () => true });
}
const letGo = (reply: FastifyReply): void => void delete (reply.raw as { writableEnded?: boolean }).writableEnded;

/**
 * The Idempotency-Key draft as a Fastify plugin: `await app.register(idempotency, { store })`.
 * Its hooks apply to the instance that registers it (and its children), so register it
 * where the routes to cover are, after hooks that set the principal. The body's bytes are
 * fingerprinted as they came (`preParsing`); the key is reserved in `preHandler` and held
 * until the handler replies, even if the client hangs up first. What the reply is at this
 * plugin's `onSend` hook (status, headers, body; a stream is read to its end) is stored (see
 * `shouldStore`) and replayed as it was sent. It is stored once every `onSend` hook has
 * passed, before it is sent: a reply that a later hook or a second send replaces (the error
 * reply of a handler that threw after sending a stream, say) is not stored, its replacement is.
 * A reply that never reaches `onSend` (`reply.hijack()`) is not recorded: the key is freed when
 * it finishes.
 */
export const idempotency: FastifyPluginAsync<FastifyIdempotencyOptions> = unencapsulated(async (fastify, options) => {
  if (options?.principal !== undefined && typeof options.principal !== 'function') {
    throw source.invalid('options.principal must be a function');
  }
  const guard = new IdempotencyGuard(options);
  const header = guard.headerName.toLowerCase();
  const bodies = new WeakMap<FastifyRequest, Buffer[]>();
  const running = new WeakMap<FastifyRequest, Proceed>();
  const outgoing = new WeakMap<FastifyRequest, Outgoing>();
  // Replays whose stored response has no Content-Type: Fastify adds one on send, taken off in onSend.
  const untyped = new WeakSet<FastifyRequest>();

  /** Stores `out`'s response (or frees the key), then lets the held reply go. */
  const store = async (reply: FastifyReply, out: Outgoing): Promise<void> => {
    const status = reply.statusCode;
    const headers = replyHeaderLines(reply);
    try {
      await (out.response === undefined ? out.verdict.abort() : out.verdict.finish(out.response));
    } finally {
      letGo(reply);
      // What is sent is what was stored: a status or header set meanwhile (from a timer) is dropped.
      if (reply.statusCode !== status) reply.code(status);
      restoreReplyHeaderLines(reply, headers);
    }
  };

  /** Stores the request's reply recorded by `onSend`, unless it is a stream or was replaced. */
  const commitOutgoing = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const out = outgoing.get(request);
    if (out === undefined || out.replaced || !('response' in out)) return;
    outgoing.delete(request);
    await store(reply, out);
  };
  // The last onSend hook of every route declared after the plugin: the hooks after its own have passed.
  const commit: onSendHookHandler = async (request, reply, payload) => {
    await commitOutgoing(request, reply);
    return payload;
  };
  fastify.addHook('onRoute', (route) => {
    const own = route.onSend;
    route.onSend = [...(own === undefined ? [] : Array.isArray(own) ? own : [own]), commit] as typeof route.onSend;
    route.config = { ...route.config, [COMMITS]: true } as typeof route.config;
  });

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
    let verdict = running.get(request);
    running.delete(request);
    const earlier = outgoing.get(request);
    if (earlier !== undefined) {
      // A reply after one not yet stored or not yet ended: the client gets this one.
      earlier.replaced = true;
      earlier.detach?.();
      verdict = earlier.verdict;
    }
    if (verdict === undefined) return payload; // not ours, or already stored (an error reply after it)
    const out: Outgoing = { verdict, replaced: false };
    outgoing.set(request, out);
    let capture: Capture;
    try {
      capture = capturePayload(reply, payload, guard.maxResponseBytes, (response) => {
        if (out.replaced) return Promise.resolve();
        outgoing.delete(request);
        return response === undefined ? out.verdict.abort() : out.verdict.finish(response);
      });
    } catch (err) {
      outgoing.delete(request);
      await out.verdict.abort(); // a payload Fastify cannot send either (a Response already read): its error reply follows
      throw err;
    }
    if (capture.streamed) {
      out.detach = capture.detach;
      return capture.payload; // it ends once stored (see capturePayload)
    }
    out.response = capture.response;
    hold(reply);
    // A route declared before the plugin has no commit hook: store it here.
    if (request.routeOptions.config?.[COMMITS as never] !== true) await commitOutgoing(request, reply);
    return capture.payload;
  });

  // A later onSend hook failed: its error reply must go out (and takes the held reply's place).
  fastify.addHook('onError', async (request, reply) => {
    if (outgoing.has(request)) letGo(reply);
  });

  // A reply that bypassed onSend (hijacked), or whose commit never came, has finished: free the
  // key. (A stream goes on being recorded after a hang-up, and settles the key itself.)
  fastify.addHook('onResponse', async (request, reply) => {
    const out = outgoing.get(request);
    const verdict = running.get(request) ?? (out !== undefined && 'response' in out ? out.verdict : undefined);
    running.delete(request);
    if (verdict !== undefined && out?.verdict === verdict) outgoing.delete(request);
    letGo(reply);
    await verdict?.abort();
  });
}, '@stowage/middleware/fastify idempotency');
