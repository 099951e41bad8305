import type { AddressInfo } from 'node:net';
import cookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import express from 'express';
import session from 'express-session';
import Fastify from 'fastify';
import type { StowageSessionStore } from '../src/index.js';

export interface RunningApp {
  url: string;
  close(): Promise<void>;
}

declare module 'express-session' {
  interface SessionData {
    user?: string;
    views?: number;
  }
}

/** The same small app on express-session and on @fastify/session: login, me, rotate, logout. */
export async function expressApp(store: StowageSessionStore, maxAgeMs = 60_000, rolling = false): Promise<RunningApp> {
  const app = express();
  app.use(express.json());
  app.use(
    session({
      store,
      secret: 'test secret of some length',
      resave: false,
      saveUninitialized: false,
      rolling,
      cookie: { maxAge: maxAgeMs },
    }),
  );
  app.post('/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = String(req.body.user);
      req.session.save((e) => (e ? next(e) : res.json({ ok: true })));
    });
  });
  app.get('/me', (req, res) => {
    if (req.session.user !== undefined) req.session.views = (req.session.views ?? 0) + 1;
    res.json({ user: req.session.user ?? null, views: req.session.views ?? 0 });
  });
  app.get('/peek', (req, res) => res.json({ user: req.session.user ?? null }));
  app.post('/rotate', (req, res, next) => {
    const user = req.session.user;
    req.session.regenerate((err) => {
      if (err) return next(err);
      if (user !== undefined) req.session.user = user;
      req.session.save((e) => (e ? next(e) : res.json({ ok: true })));
    });
  });
  app.post('/logout', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.json({ ok: true }))));
  return listen(app);
}

function listen(app: express.Express): Promise<RunningApp> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

export async function fastifyApp(store: StowageSessionStore, maxAgeMs = 60_000): Promise<RunningApp> {
  const app = Fastify();
  await app.register(cookie);
  await app.register(fastifySession, {
    store: store as never,
    secret: 'a secret with minimum length of 32 characters',
    saveUninitialized: false,
    cookie: { maxAge: maxAgeMs, secure: false },
  });
  app.post('/login', async (req) => {
    await req.session.regenerate();
    req.session.set('user', String((req.body as { user: string }).user));
    await req.session.save();
    return { ok: true };
  });
  app.get('/me', async (req) => {
    const user = req.session.get('user') as string | undefined;
    const views = ((req.session.get('views') as number | undefined) ?? 0) + (user === undefined ? 0 : 1);
    if (user !== undefined) req.session.set('views', views);
    return { user: user ?? null, views };
  });
  app.post('/rotate', async (req) => {
    const user = req.session.get('user');
    await req.session.regenerate();
    if (user !== undefined) req.session.set('user', user);
    await req.session.save();
    return { ok: true };
  });
  app.post('/logout', async (req) => {
    await req.session.destroy();
    return { ok: true };
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}
