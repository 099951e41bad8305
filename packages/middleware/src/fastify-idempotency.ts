import { type OwnOptionNames, validateFunction } from '@stowage/core/adapter-kit';
import type { Readable } from 'node:stream';
import type { StoredResponse } from '@stowage/core';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { pathOf, source, unencapsulated } from './fastify-plugin.js';
import {
  type BodyTap,
  type Capture,
  capturePayload,
  replyHeaderLines,
  restoreReplyHeaderLines,
  sendDraft,
  tapRequestBody,
} from './fastify-reply.js';
import { IdempotencyGuard, type IdempotencyOptions, type IdempotencyVerdict } from './idempotency.js';

type Proceed = Extract<IdempotencyVerdict, { action: 'proceed' }>;

export interface FastifyIdempotencyOptions extends IdempotencyOptions {
  /** Who asks: keys are scoped by it alone (a key is unique per client). @default none (one scope for all) */
  principal?: (request: FastifyRequest) => string | undefined;
}

/** The options FastifyIdempotencyOptions adds. */
const FASTIFY_IDEMPOTENCY_OPTIONS: OwnOptionNames<FastifyIdempotencyOptions, IdempotencyOptions> = { principal: true };

/**
 * Fastify's own options of `register`, which reach a plugin that skips encapsulation as these
 * do (Fastify applies none of them to it): taken, not refused, so a shared register config works.
 */
export const FASTIFY_REGISTER_OPTIONS = { prefix: true, logLevel: true, logSerializers: true } as const;

/** A streamed reply being recorded, until its stream ends and is stored. */
interface Streaming {
  verdict: Proceed;
  /** A later reply took its place (a second send, the error reply of a handler that threw). */
  replaced: boolean;
  /** Its stream failed: Fastify's error reply, if it can still send one, takes its place. */
  failed: boolean;
  /** Stops the stream handing anything more to the response, and destroys the handler's stream. */
  detach(): void;
  /** The status recorded. */
  status: number;
  /** Once its stream ended: what is being stored (`undefined`: nothing), settled once stored. */
  storing?: { response: StoredResponse | undefined; settled: Promise<void> };
}

/**
 * Makes the reply count as sent (`reply.sent`) until `letGo`: while the plugin stores it, a
 * second send, or the error reply of a handler that throws after sending, must not go out
 * instead of what is being stored. (Not for a stream: Fastify would take it as finished
 * before piping it.)
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
 * `shouldStore`) before it is sent, and replayed as it was sent. A streamed reply that a later
 * reply replaces before its stream ends (a second send, the error reply of a handler that
 * threw) is not stored; the later reply is, unless the stream's head was already out. A reply
 * that never reaches `onSend` (`reply.hijack()`) is not recorded: the key is freed when it
 * finishes. See the package README for `onSend` hooks registered before and after the plugin.
 */
export const idempotency: FastifyPluginAsync<FastifyIdempotencyOptions> = unencapsulated(async (fastify, options) => {
  const guard = new IdempotencyGuard(options, { ...FASTIFY_IDEMPOTENCY_OPTIONS, ...FASTIFY_REGISTER_OPTIONS });
  const principalOf = validateFunction<(request: FastifyRequest) => string | undefined>(source, 'options.principal', options.principal);
  const header = guard.headerName.toLowerCase();
  const bodies = new WeakMap<FastifyRequest, BodyTap>();
  const running = new WeakMap<FastifyRequest, Proceed>();
  const streaming = new WeakMap<FastifyRequest, Streaming>();
  // Replays whose stored response has no Content-Type: Fastify adds one on send, taken off in onSend.
  const untyped = new WeakSet<FastifyRequest>();

  // Only a request with a key is fingerprinted: no other body is copied.
  fastify.addHook('preParsing', async (request, _reply, payload) => {
    if (!guard.covers(request.method) || request.headers[header] === undefined) return payload;
    const tap: BodyTap = { chunks: [], open: true };
    bodies.set(request, tap);
    return tapRequestBody(payload, tap);
  });

  fastify.addHook('preHandler', async (request, reply) => {
    if (!guard.covers(request.method)) return;
    const raw = request.headers[header];
    const tap = bodies.get(request);
    bodies.delete(request);
    const chunks = tap?.chunks;
    if (tap !== undefined) {
      tap.open = false; // a body a streaming parser hands on is read later: not copied
      tap.chunks = [];
    }
    const verdict = await guard.begin({
      method: request.method,
      path: pathOf(request),
      url: request.originalUrl,
      key: Array.isArray(raw) ? raw.join(', ') : raw,
      principal: principalOf?.(request),
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
    const earlier = streaming.get(request);
    if (earlier !== undefined) {
      // A hang-up destroys the pass-through, and Fastify answers that into nothing: the
      // stream is still recorded (unless it failed, when this reply settles the key).
      if (reply.raw.destroyed && !earlier.failed) return payload;
      // A reply after a streamed one that has not ended: the client gets this one.
      streaming.delete(request);
      earlier.replaced = true;
      earlier.detach();
      verdict = earlier.verdict;
      if (earlier.storing !== undefined) {
        // Too late: the stream's response is being stored (Fastify had not piped it, so it was
        // not held). What is sent is what was stored; if nothing was, this reply goes out.
        await earlier.storing.settled;
        const stored = earlier.storing.response;
        if (stored === undefined || reply.raw.headersSent || reply.raw.destroyed) return payload;
        reply.code(stored.status);
        restoreReplyHeaderLines(reply, stored.headers);
        return Buffer.from(stored.body);
      }
      if (reply.raw.headersSent || reply.raw.destroyed) {
        // The stream's head is out: this reply cannot go out as itself; nothing is kept.
        await verdict.abort();
        return payload;
      }
    }
    if (verdict === undefined) return payload; // not ours, or already stored (an error reply after it)
    const proceed = verdict;
    const settleFailed = async () => {
      if (streaming.get(request) !== state) return;
      streaming.delete(request);
      await proceed.abort();
    };
    const state: Streaming = { verdict: proceed, replaced: false, failed: false, detach: () => undefined, status: 0 };
    let capture: Capture;
    try {
      capture = capturePayload(reply, payload, guard.maxResponseBytes, async (response, failed) => {
        if (state.replaced) return;
        if (failed) {
          // Fastify sends its error reply if the head is not out (it comes back here as a
          // replacement); if it is, the connection is cut and the key freed when it closes.
          state.failed = true;
          if (reply.raw.headersSent || reply.raw.destroyed) await settleFailed();
          return;
        }
        // Held as sent while it is stored, as a string or Buffer reply is: from when Fastify
        // pipes it (before, Fastify would take the response as finished and never pipe it).
        const out = (capture as { payload: Readable }).payload;
        let held = false;
        const holdNow = () => {
          if (held || reply.raw.destroyed) return;
          held = true;
          hold(reply);
        };
        // Piped already: flowing, or paused for a slow client.
        if (out.readableFlowing !== null) holdNow();
        else out.once('resume', holdNow);
        const settled = response === undefined ? proceed.abort() : proceed.finish(response);
        state.storing = { response, settled };
        try {
          await settled;
        } finally {
          out.off('resume', holdNow);
          if (held) letGo(reply);
          // A status set meanwhile would reach a head not yet written (an empty stream's).
          if (!reply.raw.headersSent && reply.statusCode !== state.status) reply.code(state.status);
          if (streaming.get(request) === state) streaming.delete(request);
        }
      });
    } catch (err) {
      await proceed.abort(); // a payload Fastify cannot send either (a Response already read): its error reply follows
      throw err;
    }
    if (capture.streamed) {
      state.detach = capture.detach;
      state.status = reply.statusCode;
      streaming.set(request, state);
      reply.raw.once('close', () => void (state.failed && settleFailed()));
      return capture.payload; // it ends once stored (see capturePayload)
    }
    const status = reply.statusCode;
    const headers = replyHeaderLines(reply);
    hold(reply);
    try {
      await (capture.response === undefined ? proceed.abort() : proceed.finish(capture.response));
    } finally {
      letGo(reply);
      // What is sent is what was stored: a status or header set meanwhile (from a timer) is dropped.
      if (reply.statusCode !== status) reply.code(status);
      restoreReplyHeaderLines(reply, headers);
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
