import type { AddressInfo } from 'node:net';
import { asJsonHeader } from '@stowage/test-stores';
import Koa from 'koa';
import session from 'koa-session';
import type { StowageKoaSessionStore } from '../src/index.js';
import { Gates } from '@stowage/test-stores';

export interface KoaAppOptions {
  maxAge?: number | 'session';
  rolling?: boolean;
  renew?: boolean;
  /**
   * The session key travels in the `x-session` header (JSON text, so any string can), and a
   * new session's key is taken from `x-genid` when the request sends one: how an app with a
   * custom `externalKey` and `genid` lets request data choose keys.
   */
  headerKeys?: boolean;
  gates?: Gates;
}

export interface RunningApp {
  url: string;
  /** The code (or name) of every error that reached Koa's error handling. */
  errors: string[];
  /** koa-session's events (`session:expired`, `session:missed`, `session:invalid`), in order. */
  events: string[];
  close(): Promise<void>;
}

type Fields = Record<string, unknown>;
export const COOKIE = 'koa.sess';

/**
 * A real Koa 3 app on koa-session 7 over `store`. Handlers that take `?gate=` (or `?first=` /
 * `?second=`) wait there after the session loaded, until the test opens the gate. Routes:
 * - `POST /login {user}`: regenerates a loaded session, then sets `user` (saved at the end).
 * - `GET /me`: `{ user, views }`, counting a view for a logged-in user (a change).
 * - `GET /peek`: `{ user }`, changing nothing.
 * - `GET /state`: `{ isNew, data }`, the session's fields.
 * - `POST /put {fields}`: assigns `fields` (saved at the end of the request).
 * - `POST /put-twice {first, second}`: assigns and saves `first`, waits at `?second=`, then
 *   assigns `second` (saved at the end): two saves in one request.
 * - `POST /rotate`: `regenerate()`: the same session under a new key.
 * - `POST /logout`: `ctx.session = null`.
 * - `POST /circular`: puts a circular object in the session (`?save=1`: and saves it).
 */
export async function koaApp(store: StowageKoaSessionStore, options: KoaAppOptions = {}): Promise<RunningApp> {
  const gates = options.gates ?? new Gates();
  const app = new Koa();
  app.keys = ['a test key of some length'];
  const errors: string[] = [];
  const events: string[] = [];
  app.on('error', (err: Error & { code?: string }) => void errors.push(err.code ?? err.name));
  for (const e of ['expired', 'missed', 'invalid']) app.on(`session:${e}`, () => void events.push(`session:${e}`));
  app.use(
    session(
      {
        store: store as never,
        ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
        rolling: options.rolling ?? false,
        renew: options.renew ?? false,
        ...(options.headerKeys
          ? {
              externalKey: {
                get: (ctx: Koa.Context) => (ctx.get('x-session') === '' ? undefined : JSON.parse(ctx.get('x-session'))),
                set: (ctx: Koa.Context, key: string) => void ctx.set('x-session', asJsonHeader(key)),
              },
              genid: (ctx: Koa.Context) => (ctx.get('x-genid') === '' ? crypto.randomUUID() : JSON.parse(ctx.get('x-genid'))),
            }
          : {}),
      } as never,
      app,
    ),
  );
  app.use(async (ctx) => {
    const s = (ctx as unknown as { session: any }).session;
    const pass = async (name = 'gate') => {
      const gate = ctx.query[name];
      if (typeof gate === 'string') await gates.pass(gate);
    };
    const route = `${ctx.method} ${ctx.path}`;
    const body = ctx.method === 'POST' ? await readJson(ctx) : {};
    if (route === 'POST /login') {
      if (!s.isNew) await s.regenerate();
      s.user = String(body['user']);
      ctx.body = { ok: true };
    } else if (route === 'GET /me') {
      if (s.user !== undefined) s.views = (s.views ?? 0) + 1;
      ctx.body = { user: s.user ?? null, views: s.views ?? 0 };
    } else if (route === 'GET /peek') {
      await pass();
      ctx.body = { user: s.user ?? null };
    } else if (route === 'GET /state') {
      await pass();
      ctx.body = { isNew: s.isNew, data: s.toJSON() };
    } else if (route === 'POST /put') {
      await pass();
      Object.assign(s, body['fields']);
      ctx.body = { ok: true };
    } else if (route === 'POST /put-twice') {
      await pass('first');
      Object.assign(s, body['first']);
      await s.save();
      await pass('second');
      Object.assign(s, body['second']);
      ctx.body = { ok: true };
    } else if (route === 'POST /rotate') {
      await pass();
      await s.regenerate();
      ctx.body = { ok: true };
    } else if (route === 'POST /circular') {
      const loop: Fields = {};
      loop['self'] = loop;
      s.loop = loop;
      if (ctx.query['save'] === '1') await s.save();
      ctx.body = { ok: true };
    } else if (route === 'POST /logout') {
      (ctx as unknown as { session: null }).session = null;
      ctx.body = { ok: true };
    } else {
      ctx.status = 404;
    }
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    errors,
    events,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function readJson(ctx: Koa.Context): Promise<Fields> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  return chunks.length === 0 ? {} : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Fields);
}
