import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { RateLimitStore } from '@stowage/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { stowageStore, type StowageStoreOptions } from '../src/index.js';

export interface LimiterApp {
  app: FastifyInstance;
  /** Errors Fastify answered with (a store error without skipOnError): `<status> <code>`. */
  errors: string[];
  /** One request from `client` (the key) to `path`: its status and x-ratelimit-* / retry-after headers. */
  get(path: string, client: string): Promise<Answer>;
}

export interface Answer {
  status: number;
  limit?: string;
  remaining?: string;
  reset?: string;
  retryAfter?: string;
}

/**
 * A real Fastify 5 app with the real @fastify/rate-limit on our store, keyed by the
 * `x-client` header. Routes: `/ok` (the plugin's own limit), `/a` (max 2) and `/b` (max 3,
 * window 60 s) with route limits, `/free` (no limit), and `/check/<login|otp>` running two
 * `createRateLimit` limiters (`?peek=1` reads without counting).
 */
export async function limiterApp(
  store: RateLimitStore,
  options: Partial<RateLimitPluginOptions>,
  storeOptions: Partial<StowageStoreOptions> = {},
): Promise<LimiterApp> {
  const app = Fastify();
  const errors: string[] = [];
  // Runs before Fastify answers: the status is the error's own (429, 403), 500 without one.
  app.addHook('onError', async (_request, _reply, error) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) errors.push(`${status} ${(error as { code?: string }).code}`);
  });
  await app.register(rateLimit, {
    // A long deadline by default: other suites on a shared Redis hold the whole server (CLIENT PAUSE) for up to 2 s.
    store: stowageStore({ store, timeoutMs: 5000, ...storeOptions }),
    keyGenerator: (request) => String(request.headers['x-client'] ?? 'anonymous'),
    ...options,
  });
  app.get('/ok', async () => ({ ok: true }));
  app.get('/a', { config: { rateLimit: { max: 2 } } }, async () => ({ route: 'a' }));
  app.get('/b', { config: { rateLimit: { max: 3, timeWindow: 60_000 } } }, async () => ({ route: 'b' }));
  app.get('/free', { config: { rateLimit: false } }, async () => ({ free: true }));
  const limiters = { login: app.createRateLimit({ max: 2, timeWindow: 60_000 }), otp: app.createRateLimit({ max: 3, timeWindow: 60_000 }) };
  app.get<{ Params: { name: 'login' | 'otp' }; Querystring: { peek?: string } }>(
    '/check/:name',
    { config: { rateLimit: false } },
    async (request) => {
      const limit = await limiters[request.params.name](request, { increment: request.query.peek !== '1' });
      return limit.isAllowed ? { allowed: true } : { exceeded: limit.isExceeded, remaining: limit.remaining, ttl: limit.ttl };
    },
  );
  await app.ready();
  const get = async (path: string, client: string): Promise<Answer> => {
    const r = await app.inject({ method: 'GET', url: path, headers: { 'x-client': client } });
    const header = (name: string) => (r.headers[name] === undefined ? undefined : String(r.headers[name]));
    return {
      status: r.statusCode,
      limit: header('x-ratelimit-limit'),
      remaining: header('x-ratelimit-remaining'),
      reset: header('x-ratelimit-reset'),
      retryAfter: header('retry-after'),
    };
  };
  return { app, errors, get };
}

/** Statuses of `n` requests sent one after another, alternating over `apps` (two replicas). */
export async function statuses(apps: LimiterApp[], path: string, client: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await apps[i % apps.length]!.get(path, client)).status);
  return out;
}

export { openRateLimitReplicas as openReplicas, type RateLimitReplicas as Replicas } from '@stowage/test-stores';
