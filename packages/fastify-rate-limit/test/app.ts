import { setTimeout as sleep } from 'node:timers/promises';
import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit';
import type { RateLimitStore } from '@stowage/core';
import { freshNamespace, type StoreBackend, type StoreSet } from '@stowage/test-stores';
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

/**
 * Sleeps until `offsetMs` into the next fixed window of `windowMs` (windows start at
 * multiples of `windowMs` since the epoch, on the backend's clock: this machine's) and
 * returns when that window ends.
 */
export async function nextWindow(windowMs: number, offsetMs = 20): Promise<number> {
  const start = (Math.floor(Date.now() / windowMs) + 1) * windowMs;
  await sleep(start + offsetMs - Date.now());
  return start + windowMs;
}

export interface Replicas {
  /** Two stores over one namespace (memory: one store, shared by both apps of this process). */
  stores: [RateLimitStore, RateLimitStore];
  sets: StoreSet[];
  close(): Promise<void>;
}

/** Two connections to one fresh namespace of `backend`, as two replicas of a service have. */
export async function openReplicas(backend: StoreBackend): Promise<Replicas> {
  const ns = freshNamespace();
  if (backend.kind === 'memory') {
    const set = await backend.open(ns);
    const store = set.rateLimits();
    return { stores: [store, store], sets: [set], close: () => set.close() };
  }
  const sets = [await backend.open(ns), await backend.open(ns)];
  return {
    stores: [sets[0]!.rateLimits(), sets[1]!.rateLimits()],
    sets,
    close: async () => {
      for (const set of sets) await set.close();
    },
  };
}

/**
 * Makes sure at least `needMs` are left in the current fixed window of `windowMs` (sleeping
 * into the next one otherwise), so a test's hits all land in one window.
 */
export async function roomInWindow(windowMs: number, needMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < needMs) await sleep(left + 20);
}
