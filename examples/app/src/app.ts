import { randomBytes, randomUUID } from 'node:crypto';
import { createStreamsHandler } from '@stowage/durable-streams-server';
import { StowageRateLimitStore } from '@stowage/express-rate-limit';
import { StowageSessionStore } from '@stowage/express-session';
import { createJwksProvider, type JwksProvider } from '@stowage/jwks';
import { StowageError } from '@stowage/core';
import { problem } from '@stowage/middleware';
import { csrf, idempotency, rateLimit, type ExpressRequest } from '@stowage/middleware/express';
import express, { type NextFunction, type Request, type Response } from 'express';
import { rateLimit as expressRateLimit } from 'express-rate-limit';
import session from 'express-session';
import { jwtVerify } from 'jose';
import { DEV_AUDIENCE, devIssuer } from './dev-issuer.js';
import type { AppStores } from './stores.js';

declare module 'express-session' {
  interface SessionData {
    user?: string;
  }
}

export interface AppOptions {
  /** The JWKS of the issuer whose tokens `/api` accepts (then `issuer` is required). @default this app's dev issuer */
  jwksUri?: string;
  /** The `iss` that `/api` tokens must carry. @default this app's dev issuer, `{selfUrl}/dev/issuer` */
  issuer?: string;
  /** The `aud` that `/api` tokens must carry. @default 'stowage-example-api' (the dev issuer's) */
  audience?: string;
  /** This app's own URL, known once it listens (for the dev issuer's JWKS URL). */
  selfUrl: () => string;
  /** Signs session cookies. @default random per start (sessions do not survive a restart) */
  sessionSecret?: string;
}

type ApiRequest = Request & { user?: string };

/** The middleware's default time limit per store call, kept by the handler's own call too. */
const STORE_TIMEOUT_MS = 1000;

const send = (res: Response, draft: ReturnType<typeof problem>): void => {
  for (const [name, value] of draft.headers) res.append(name, value);
  res.status(draft.status).send(draft.body);
};

/**
 * The example service:
 * - `/account/*`: a browser session (express-session) with CSRF tokens;
 * - `/api/*`: bearer JWTs verified against a JWKS shared by replicas, per-user rate limits,
 *   and `POST /api/orders` with a required Idempotency-Key;
 * - `/streams/orders`: every order, as a Durable Stream (read-only here);
 * - a per-IP limit on everything (express-rate-limit on our store).
 */
export async function createApp(stores: AppStores, options: AppOptions): Promise<express.Express> {
  if (options.jwksUri !== undefined && options.issuer === undefined) {
    throw new Error('a JWKS_URI needs its JWT_ISSUER: the issuer whose tokens /api accepts');
  }
  await stores.streams.create('orders', { contentType: 'application/json' });
  const app = express();
  app.set('trust proxy', false);

  // Every client: 300 requests a minute per IP, counted across replicas; before the body
  // parsers, so a malformed body counts too.
  app.use(
    expressRateLimit({
      store: new StowageRateLimitStore({ store: stores.rateLimits }),
      windowMs: 60_000,
      limit: 300,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
    }),
  );
  app.use(
    express.json({
      verify: (req, _res, buf) => {
        (req as ExpressRequest).rawBody = buf; // fingerprints idempotent requests byte for byte
      },
    }),
  );
  app.use(express.urlencoded({ extended: false }));

  // --- browser sessions with CSRF tokens ------------------------------------------------
  app.use(
    '/account',
    session({
      store: new StowageSessionStore({ store: stores.sessions, touchAfterMs: 60_000, owner: (s) => s['user'] as string | undefined }),
      secret: options.sessionSecret ?? randomBytes(32).toString('base64url'),
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 8 * 3_600_000, httpOnly: true, sameSite: 'lax' },
    }),
    // express-session leaves req.session unset when its store is down (its health probe may
    // say so for a few seconds after the store is back): an outage, not a crash.
    (req: Request, res: Response, next: NextFunction) => {
      if (req.session !== undefined) return next();
      send(res, problem(503, 'store-unavailable', 'The session store is unavailable, retry shortly', undefined, [['Retry-After', '1']]));
    },
    csrf({ store: stores.csrf }),
  );
  app.get('/account/csrf', async (req, res) => void res.json({ csrfToken: await (req as ExpressRequest).csrfToken!() }));
  app.post('/account/login', (req, res, next) => {
    const user = typeof req.body?.user === 'string' ? req.body.user : '';
    if (!/^[\w.@-]{1,64}$/.test(user)) return send(res, problem(400, 'bad-user', 'user must be 1 to 64 of [A-Za-z0-9_.@-]'));
    // A new session id at login (fixation defence); the old id's CSRF tokens are revoked.
    req.session.regenerate((err) => {
      if (err) return next(err);
      // The token first: if it cannot be issued (the store is down), the new session stays
      // empty and unsaved, so the failed login leaves nobody logged in. A rejection here has
      // no caller to catch it: hand it to the error handler.
      (req as unknown as ExpressRequest).csrfToken!().then((csrfToken) => {
        req.session.user = user;
        res.json({ user, csrfToken });
      }, next);
    });
  });
  app.get('/account/me', (req, res) => void res.json({ user: req.session.user ?? null }));
  app.post('/account/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({ ok: true }))));

  // --- the API: bearer JWTs ---------------------------------------------------------------
  const devIssuerUrl = () => `${options.selfUrl()}/dev/issuer`;
  if (options.jwksUri === undefined) app.use('/dev/issuer', await devIssuer(devIssuerUrl));
  let provider: JwksProvider | undefined;
  const keys = (): JwksProvider =>
    (provider ??= createJwksProvider({
      uri: options.jwksUri ?? `${options.selfUrl()}/dev/issuer/jwks.json`,
      cache: stores.jwks,
      locks: stores.locks,
    }));
  const authenticate = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (m === null)
      return send(res, problem(401, 'unauthenticated', 'A bearer token is required', undefined, [['WWW-Authenticate', 'Bearer']]));
    try {
      const { payload } = await jwtVerify(m[1]!, keys().resolver, {
        algorithms: ['ES256', 'RS256'],
        issuer: options.issuer ?? devIssuerUrl(),
        audience: options.audience ?? DEV_AUDIENCE,
        requiredClaims: ['sub'],
      });
      // The subject names the user: rate limits and idempotency keys are per user, so a token
      // without one would share both with every other such token.
      if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('no subject');
      (req as ApiRequest).user = payload.sub;
      next();
    } catch {
      send(
        res,
        problem(401, 'invalid-token', 'The bearer token is invalid or expired', undefined, [
          ['WWW-Authenticate', 'Bearer error="invalid_token"'],
        ]),
      );
    }
  };
  app.get('/api/whoami', authenticate, (req, res) => void res.json({ user: (req as ApiRequest).user }));
  app.post(
    '/api/orders',
    authenticate,
    rateLimit({
      store: stores.rateLimits,
      prefix: 'orders:',
      policies: [
        { name: 'burst', algorithm: 'gcra', limit: 5, windowMs: 10_000 },
        { name: 'daily', algorithm: 'fixed-window', limit: 1000, windowMs: 86_400_000 },
      ],
      key: (req) => (req as ApiRequest).user,
    }),
    idempotency({ store: stores.idempotency, required: true, principal: (req) => (req as ApiRequest).user }),
    async (req, res, next) => {
      const { item, qty = 1 } = req.body ?? {};
      if (typeof item !== 'string' || !Number.isInteger(qty) || qty < 1) {
        return send(res, problem(400, 'bad-order', 'An order is { "item": string, "qty": integer >= 1 }'));
      }
      const order = { id: randomUUID(), item, qty, by: (req as ApiRequest).user, at: new Date().toISOString() };
      try {
        // Within the same second as every other layer's store call, not the store's own 5 s.
        const deadline = Date.now() + STORE_TIMEOUT_MS;
        await stores.streams.append('orders', [Buffer.from(JSON.stringify(order))], { contentType: 'application/json', deadline });
      } catch (err) {
        return next(err);
      }
      res.status(201).location(`/api/orders/${order.id}`).json(order);
    },
  );

  // --- the orders feed (read-only) ----------------------------------------------------------
  const streams = createStreamsHandler({ store: stores.streams, basePath: '/streams' });
  app.use('/streams', (req, res, next) => {
    // A preflight must not offer what the feed refuses: answered here, with the read methods only.
    if (req.method === 'OPTIONS') {
      const methods = 'GET, HEAD, OPTIONS';
      res.set({
        Allow: methods,
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Methods': methods,
        'Access-Control-Max-Age': '86400',
      });
      return void res.status(204).end();
    }
    if (!['GET', 'HEAD'].includes(req.method)) {
      return send(res, problem(405, 'read-only', 'The feed is read-only', undefined, [['Allow', 'GET, HEAD, OPTIONS']]));
    }
    // The server's own page offers PUT and POST, which this feed refuses: its own words instead.
    if (req.path === '/') {
      return void res
        .type('text/plain')
        .send('The orders feed (read-only): GET /streams/orders?offset=-1, with &live=long-poll or &live=sse to follow.\n');
    }
    req.url = req.originalUrl; // the handler matches the full path against its basePath
    streams(req, res, next);
  });

  app.use((_req, res) => send(res, problem(404, 'not-found', 'No such resource')));

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    // A store that cannot answer in time (down, paused, overloaded) is an outage, not a bug:
    // 503 with Retry-After, one log line, no stack.
    if (err instanceof StowageError && (err.code === 'UNAVAILABLE' || err.code === 'TIMEOUT')) {
      console.error(`${req.method} ${req.originalUrl.slice(0, 200)}: 503 store ${err.code}: ${err.message}`);
      if (!res.headersSent)
        send(res, problem(503, 'store-unavailable', 'The store is unavailable, retry shortly', undefined, [['Retry-After', '1']]));
      return;
    }
    // The body parsers' errors are the client's (bad JSON, too large, a charset it cannot read,
    // a body cut off): their 4xx status, one log line, no stack.
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      console.error(`${req.method} ${req.originalUrl.slice(0, 200)}: ${status} ${(err as Error).message}`);
      if (!res.headersSent) send(res, problem(status, 'bad-request', 'The request is malformed', (err as Error).message));
      return;
    }
    console.error(err);
    if (!res.headersSent) send(res, problem(500, 'internal', 'Internal error'));
  });
  return app;
}
