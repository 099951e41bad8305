/**
 * The app under test: every layer a request meets (rate limits, Idempotency-Key, sessions,
 * express-rate-limit), wired the way a user would, with handlers whose timing a test sets,
 * and side effects recorded in the shared backend so that replicas are counted together.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  toStoreKey,
  type IdempotencyStore,
  type RateLimitPolicy,
  type RateLimitStore,
  type SessionStore,
  type StreamStore,
} from '@stowage/core';
import { StowageRateLimitStore } from '@stowage/express-rate-limit';
import { StowageSessionStore } from '@stowage/express-session';
import { idempotency, rateLimit } from '@stowage/middleware/express';
import express, { type NextFunction, type Request, type Response } from 'express';
import { rateLimit as expressRateLimit } from 'express-rate-limit';
import session from 'express-session';

declare module 'express-session' {
  interface SessionData {
    user?: string;
    visits?: number;
  }
}

export interface LifecycleStores {
  sessions: SessionStore;
  rateLimits: RateLimitStore;
  idempotency: IdempotencyStore;
  streams: StreamStore;
}

export interface LifecycleAppOptions {
  stores: LifecycleStores;
  /** Names this replica in answers and in recorded side effects. */
  replica: string;
  /** Every layer's limit per store call (middleware, session and express-rate-limit stores). */
  timeoutMs: number;
  /** Shared by the replicas, so a cookie of one is a session on the other. */
  sessionSecret: string;
}

/** The orders limit: large enough never to deny in a test, so its count is what is checked. */
export const ORDERS_POLICY: RateLimitPolicy = { name: 'orders', algorithm: 'fixed-window', limit: 100_000, windowMs: 3_600_000 };
/** The express-rate-limit route's limit (it only counts here). */
export const PING_LIMIT = 100_000;
const EFFECTS = 'effects';

const header = (req: Request, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};
const ms = (req: Request, name: string): number => Math.max(0, Number(header(req, name) ?? 0) || 0);

export async function createLifecycleApp(o: LifecycleAppOptions): Promise<express.Express> {
  const { stores, replica, timeoutMs } = o;
  await stores.streams.create(EFFECTS, { contentType: 'application/json' });
  const app = express();
  app.use(express.json());
  const started = new Map<string, number>();

  // POST /orders: a rate limit and a required Idempotency-Key in front of a handler that
  // records its side effect at `x-effect-at` ms and answers at `x-answer-at` ms.
  app.post(
    '/orders',
    rateLimit({
      store: stores.rateLimits,
      policies: ORDERS_POLICY,
      key: (req) => header(req as Request, 'x-client') ?? 'anonymous',
      timeoutMs,
    }),
    idempotency({ store: stores.idempotency, required: true, timeoutMs }),
    async (req, res, next) => {
      const key = header(req, 'idempotency-key') ?? '';
      started.set(key, (started.get(key) ?? 0) + 1);
      const effectAt = ms(req, 'x-effect-at');
      const answerAt = Math.max(effectAt, ms(req, 'x-answer-at'));
      const id = randomUUID();
      try {
        await sleep(effectAt);
        const effect = { key: header(req, 'idempotency-key'), id, replica };
        await stores.streams.append(EFFECTS, [Buffer.from(JSON.stringify(effect))], { deadline: Date.now() + timeoutMs });
        await sleep(answerAt - effectAt);
      } catch (err) {
        return next(err);
      }
      res.status(201).location(`/orders/${id}`).json({ id, replica });
    },
  );

  // How many runs of the orders handler began for a key in this replica (not in the backend:
  // a test waits for it to hang up a client mid-handler, whatever the machine's speed).
  app.get('/started', (req, res) => void res.json({ runs: started.get(String(req.query['key'])) ?? 0 }));

  // The side effects recorded for a key, by every replica.
  app.get('/effects', async (req, res, next) => {
    try {
      const { messages } = await stores.streams.read(EFFECTS, '-1', { maxMessages: 100_000 });
      const all = JSON.parse(`[${messages.map((m) => Buffer.from(m.data).toString('utf8')).join(',')}]`) as Array<{
        key: string;
        id: string;
      }>;
      res.json(all.filter((e) => e.key === req.query['key']));
    } catch (err) {
      next(err);
    }
  });

  // GET /ping: express-rate-limit on our store, which only counts (the limit is never hit).
  const pingStore = new StowageRateLimitStore({ store: stores.rateLimits, prefix: 'ping:', timeoutMs });
  app.get(
    '/ping',
    expressRateLimit({
      store: pingStore,
      windowMs: 3_600_000,
      limit: PING_LIMIT,
      keyGenerator: (req) => header(req, 'x-client') ?? 'anonymous',
      validate: false,
    }),
    (_req, res) => void res.json({ replica }),
  );

  // What was counted: the orders limit's remaining units and the pings of a client.
  app.get('/counts', async (req, res, next) => {
    const client = String(req.query['client'] ?? 'anonymous');
    try {
      const [orders, pings] = await Promise.all([stores.rateLimits.peek(toStoreKey(`rl:${client}`), ORDERS_POLICY), pingStore.get(client)]);
      res.json({ orders: ORDERS_POLICY.limit - orders.remaining, pings: pings?.totalHits ?? 0 });
    } catch (err) {
      next(err);
    }
  });

  // Sessions: login, a slow request that modifies the session, logout, me.
  app.use(
    '/s',
    session({
      store: new StowageSessionStore({ store: stores.sessions, timeoutMs }),
      secret: o.sessionSecret,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 3_600_000 },
    }),
  );
  app.post('/s/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = String(req.body?.user ?? 'ada');
      res.json({ user: req.session.user, replica });
    });
  });
  app.post('/s/slow', async (req, res) => {
    await sleep(ms(req, 'x-delay'));
    req.session.visits = (req.session.visits ?? 0) + 1;
    res.json({ user: req.session.user ?? null, visits: req.session.visits, replica });
  });
  app.post('/s/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({ ok: true, replica }))));
  app.get('/s/me', (req, res) => void res.json({ user: req.session.user ?? null, visits: req.session.visits ?? 0, replica }));

  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const code = (err as { code?: unknown })?.code;
    if (!res.headersSent) res.status(500).json({ error: typeof code === 'string' ? code : 'INTERNAL', replica });
  });
  return app;
}
