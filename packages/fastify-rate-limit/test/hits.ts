import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { RateLimitStore } from '@stowage/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { stowageStore } from '../src/index.js';

/** What one hit of a `createRateLimit` limiter reports: the plugin's own view of the store's answer. */
export interface Hit {
  status: number;
  exceeded: boolean;
  remaining: number;
  /** Ms until the key's window ends, as the store answered it. */
  ttl: number;
  /** The 429 / 200 of the plugin's own route limit, with `x-ratelimit-reset` (s). */
  reset?: string;
}

export interface HitApp {
  app: FastifyInstance;
  /** One counting hit of `client`: `/hit` runs a `createRateLimit` limiter and reports its answer. */
  hit(client: string): Promise<Hit>;
  /** The limiter's answer without counting (`{ increment: false }`). */
  peek(client: string): Promise<Hit>;
  /** One request to `/limited`, limited by the plugin's route hook: status and `x-ratelimit-reset`. */
  get(client: string): Promise<Hit>;
}

/**
 * A real Fastify app with @fastify/rate-limit, counting in our store over `store`, or (store
 * `undefined`) in the plugin's own LocalStore, to compare. `options` go to both the limiter of
 * `/hit` and the route limit of `/limited`.
 */
export async function hitApp(
  store: RateLimitStore | undefined,
  options: Partial<RateLimitPluginOptions>,
  prefix = 'hits:',
): Promise<HitApp> {
  const app = Fastify();
  await app.register(rateLimit, {
    global: false,
    ...(store === undefined ? {} : { store: stowageStore({ store, prefix, timeoutMs: 5000 }) }),
    keyGenerator: (request) => String(request.headers['x-client']),
  });
  const limiter = app.createRateLimit(options);
  app.get<{ Querystring: { peek?: string } }>('/hit', async (request, reply) => {
    const r = await limiter(request, { increment: request.query.peek !== '1' });
    if (r.isExceeded) reply.code(429);
    return { exceeded: r.isExceeded, remaining: r.remaining, ttl: r.ttl };
  });
  app.get('/limited', { config: { rateLimit: options } }, async () => ({ ok: true }));
  await app.ready();
  const ask = async (url: string, client: string): Promise<Hit> => {
    const r = await app.inject({ url, headers: { 'x-client': client } });
    const body = r.json() as Omit<Hit, 'status'>;
    const reset = r.headers['x-ratelimit-reset'];
    return { ...body, status: r.statusCode, ...(reset === undefined ? {} : { reset: String(reset) }) };
  };
  return { app, hit: (c) => ask('/hit', c), peek: (c) => ask('/hit?peek=1', c), get: (c) => ask('/limited', c) };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
