import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisRateLimitStore } from '@stowage/stores-redis';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import session from 'express-session';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrf, idempotency, rateLimit, type ExpressRequest } from '../src/express.js';

interface Running {
  url: string;
  close(): Promise<void>;
}

function listen(app: express.Express): Promise<Running> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
      });
    });
  });
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  describe('rateLimit', () => {
    let app: Running;
    beforeAll(async () => {
      const a = express();
      a.use(
        rateLimit({
          store: set.rateLimits(),
          policies: [
            { name: 'burst', algorithm: 'gcra', limit: 5, windowMs: 60_000 },
            { name: 'hourly', algorithm: 'fixed-window', limit: 100, windowMs: 3_600_000 },
          ],
          key: (req) => req.headers['x-user'] as string | undefined,
          // These tests count admissions: 30 racing calls on one PostgreSQL row queue for its
          // lock, past the default 1 s on a loaded machine (then 503, not 200 or 429).
          timeoutMs: 15_000,
        }),
      );
      a.get('/', (_req, res) => void res.json({ ok: true }));
      app = await listen(a);
    });
    afterAll(() => app.close());

    it('sends the draft RateLimit headers, and 429 with Retry-After and problem+json past the limit', async () => {
      const first = await fetch(app.url, { headers: { 'x-user': 'ada' } });
      expect(first.status).toBe(200);
      expect(first.headers.get('ratelimit-policy')).toBe('"burst";q=5;w=60, "hourly";q=100;w=3600');
      expect(first.headers.get('ratelimit')).toMatch(/^"burst";r=4;t=\d+$/);
      for (let i = 0; i < 4; i++) expect((await fetch(app.url, { headers: { 'x-user': 'ada' } })).status).toBe(200);
      const denied = await fetch(app.url, { headers: { 'x-user': 'ada' } });
      expect(denied.status).toBe(429);
      expect(Number(denied.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(denied.headers.get('content-type')).toBe('application/problem+json');
      expect(await denied.json()).toMatchObject({ type: 'urn:stowage:problem:rate-limited', status: 429 });
      // No key: not limited.
      expect((await fetch(app.url)).headers.get('ratelimit')).toBeNull();
    });

    it('admits exactly the burst among 30 racing requests', async () => {
      const statuses = await Promise.all(
        Array.from({ length: 30 }, () => fetch(app.url, { headers: { 'x-user': 'race' } }).then((r) => r.status)),
      );
      expect(statuses.filter((s) => s === 200)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(25);
    });
  });

  describe('idempotency', () => {
    let app: Running;
    let runs = 0;
    /** The first run of an order whose item is a key here waits for that promise before it answers. */
    const gates = new Map<string, Promise<void>>();
    beforeAll(async () => {
      const a = express();
      a.use(express.json());
      a.use(
        idempotency({
          store: set.idempotency(),
          required: true,
          // Shorter than the heartbeat test's handler, so only the heartbeat keeps its key; long
          // enough that a stall of a loaded machine (up to ~600 ms) does not let it lapse.
          leaseMs: 900,
          principal: (req) => req.headers['x-user'] as string | undefined,
        }),
      );
      a.post('/orders', async (req, res, next) => {
        runs++;
        const { delayMs = 0, fail = false, item } = req.body as { delayMs?: number; fail?: boolean; item: string };
        await sleep(delayMs);
        const gate = gates.get(item);
        gates.delete(item); // a second run (a lost key) does not wait: it shows at once
        await gate;
        if (fail) return next(new Error('the handler failed'));
        res.setHeader('X-Order-Id', `o-${runs}`);
        res.status(201).json({ id: runs, item });
      });
      a.get('/orders', (_req, res) => void res.json({ runs }));
      app = await listen(a);
    });
    afterAll(() => app.close());

    it('400 without a key; the first request runs, a retry replays it; another payload is 422', async () => {
      const missing = await fetch(`${app.url}/orders`, json({ item: 'x' }));
      expect(missing.status).toBe(400);
      expect((await missing.json()).type).toBe('urn:stowage:problem:idempotency-key-missing');
      expect((await fetch(`${app.url}/orders`, json({ item: 'x' }, { 'idempotency-key': 'x'.repeat(256) }))).status).toBe(400);

      const before = runs;
      const first = await fetch(`${app.url}/orders`, json({ item: 'book' }, { 'idempotency-key': '"k-1"', 'x-user': 'ada' }));
      expect(first.status).toBe(201);
      const body = await first.json();
      const retry = await fetch(`${app.url}/orders`, json({ item: 'book' }, { 'idempotency-key': 'k-1', 'x-user': 'ada' }));
      expect(retry.status).toBe(201);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.headers.get('x-order-id')).toBe(first.headers.get('x-order-id'));
      expect(await retry.json()).toEqual(body);
      expect(runs).toBe(before + 1);

      const other = await fetch(`${app.url}/orders`, json({ item: 'pen' }, { 'idempotency-key': 'k-1', 'x-user': 'ada' }));
      expect(other.status).toBe(422);
      // Another principal has its own keys.
      expect((await fetch(`${app.url}/orders`, json({ item: 'pen' }, { 'idempotency-key': 'k-1', 'x-user': 'bob' }))).status).toBe(201);
      expect(runs).toBe(before + 2);
    });

    it('runs the handler once among 12 racing requests with one key: the others get 409 + Retry-After or the replay', async () => {
      const before = runs;
      const responses = await Promise.all(
        Array.from({ length: 12 }, () => fetch(`${app.url}/orders`, json({ item: 'race', delayMs: 150 }, { 'idempotency-key': 'k-race' }))),
      );
      expect(runs).toBe(before + 1);
      const fresh = responses.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null);
      const conflicts = responses.filter((r) => r.status === 409);
      expect(fresh).toHaveLength(1);
      expect(fresh.length + conflicts.length + responses.filter((r) => r.headers.get('idempotent-replayed') === 'true').length).toBe(12);
      for (const c of conflicts) expect(Number(c.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    });

    it('frees the key when the handler fails, so the retry runs it again', async () => {
      const before = runs;
      const failed = await fetch(`${app.url}/orders`, json({ item: 'y', fail: true }, { 'idempotency-key': 'k-fail' }));
      expect(failed.status).toBe(500);
      const again = await fetch(`${app.url}/orders`, json({ item: 'y', fail: true }, { 'idempotency-key': 'k-fail' }));
      expect(again.status).toBe(500);
      expect(again.headers.get('idempotent-replayed')).toBeNull();
      expect(runs).toBe(before + 2);
    });

    it('keeps the key of a handler that outlives its lease (heartbeat), then replays it', async () => {
      const before = runs;
      let open!: () => void;
      gates.set('slow', new Promise<void>((resolve) => (open = resolve)));
      const slow = fetch(`${app.url}/orders`, json({ item: 'slow' }, { 'idempotency-key': 'k-slow' }));
      // Counted from the run's start, not the request's: under load the request may reach its handler late.
      while (runs === before) await sleep(10);
      await sleep(2000); // more than two leases (900 ms); the run goes on until the gate opens
      const during = await fetch(`${app.url}/orders`, json({ item: 'slow' }, { 'idempotency-key': 'k-slow' }));
      open();
      const first = await slow;
      expect([during.status, first.status]).toEqual([409, 201]);
      const after = await fetch(`${app.url}/orders`, json({ item: 'slow' }, { 'idempotency-key': 'k-slow' }));
      expect(after.headers.get('idempotent-replayed')).toBe('true');
      expect(runs).toBe(before + 1);
    });
  });

  describe('csrf with express-session', () => {
    let app: Running;
    const csrfStore = () => set.csrf();
    let tokens: ReturnType<StoreSet['csrf']>;
    beforeAll(async () => {
      tokens = csrfStore();
      const a = express();
      a.use(express.json());
      a.use(express.urlencoded({ extended: false }));
      a.use(session({ secret: 'test secret of some length', resave: false, saveUninitialized: false }));
      a.use(csrf({ store: tokens }));
      a.get('/form', async (req: ExpressRequest, res) => void res.json({ token: await req.csrfToken!(), sid: req.sessionID }));
      a.post('/transfer', (_req, res) => void res.json({ done: true }));
      a.post('/login', (req, res, next) =>
        req.session.regenerate((err) => {
          if (err) return next(err);
          (req.session as unknown as Record<string, unknown>)['user'] = 'ada';
          res.json({ sid: req.sessionID });
        }),
      );
      app = await listen(a);
    });
    afterAll(() => app.close());

    it('accepts a token of the session in a header or a form field, refuses others, and revokes them when the id rotates', async () => {
      const form = await fetch(`${app.url}/form`);
      const cookie = form.headers.get('set-cookie')!.split(';')[0]!;
      const { token, sid } = await form.json();
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const post = (headers: Record<string, string>, body?: string) =>
        fetch(`${app.url}/transfer`, { method: 'POST', headers: { cookie, ...headers }, ...(body === undefined ? {} : { body }) });
      const none = await post({});
      expect(none.status).toBe(403);
      expect((await none.json()).type).toBe('urn:stowage:problem:csrf-token-invalid');
      expect((await post({ 'x-csrf-token': 'forged' })).status).toBe(403);
      expect((await post({ 'x-csrf-token': token })).status).toBe(200);
      expect((await post({ 'content-type': 'application/x-www-form-urlencoded' }, `_csrf=${encodeURIComponent(token)}`)).status).toBe(200);
      // An empty header hides no form field.
      const form2 = `_csrf=${encodeURIComponent(token)}`;
      expect((await post({ 'x-csrf-token': '', 'content-type': 'application/x-www-form-urlencoded' }, form2)).status).toBe(200);

      // Another session's token does not work here.
      const otherForm = await fetch(`${app.url}/form`);
      const { token: otherToken } = await otherForm.json();
      expect((await post({ 'x-csrf-token': otherToken })).status).toBe(403);

      // Rotating the session id (login) revokes its tokens.
      const login = await fetch(`${app.url}/login`, { method: 'POST', headers: { cookie, 'x-csrf-token': token } });
      expect(login.status).toBe(200);
      const newCookie = login.headers.get('set-cookie')!.split(';')[0]!;
      // The revoke runs in the background after the response: wait for it, however slowly it comes.
      let stillValid = true;
      for (let i = 0; stillValid && i < 100; i++) {
        stillValid = await tokens.validate(sid, token);
        if (stillValid) await sleep(50);
      }
      expect(stillValid).toBe(false);
      expect((await fetch(`${app.url}/transfer`, { method: 'POST', headers: { cookie: newCookie, 'x-csrf-token': token } })).status).toBe(
        403,
      );
    });
  });
});

describe('failure policy: a dead backend never hangs a request', () => {
  const client = new Redis({ port: 1, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 200, maxRetriesPerRequest: null });
  client.on('error', () => {});
  const store = new RedisRateLimitStore({ client, timeoutMs: 10_000 });
  afterAll(async () => {
    await store.close();
    client.disconnect();
  });

  for (const failOpen of [false, true]) {
    it(`fails ${failOpen ? 'open' : 'closed'} within timeoutMs and reports the error`, async () => {
      const errors: string[] = [];
      const a = express();
      a.use(
        rateLimit({
          store,
          policies: { algorithm: 'fixed-window', limit: 10, windowMs: 1000 },
          key: () => 'k',
          timeoutMs: 150,
          failOpen,
          onStoreError: (e, ctx) => errors.push(`${ctx.middleware} ${e.code}`),
        }),
      );
      a.get('/', (_req, res) => void res.json({ ok: true }));
      const app = await listen(a);
      try {
        const t0 = Date.now();
        const r = await fetch(app.url);
        expect(Date.now() - t0).toBeLessThan(1500);
        expect(r.status).toBe(failOpen ? 200 : 503);
        if (!failOpen) expect(r.headers.get('retry-after')).toBe('1');
        // As the README says: no decision, so no RateLimit fields (none made up).
        expect([r.headers.get('ratelimit-policy'), r.headers.get('ratelimit')]).toEqual([null, null]);
        // The store answers by the deadline itself: UNAVAILABLE (not connected), or the guard's TIMEOUT.
        expect(errors).toEqual([expect.stringMatching(/^rateLimit (TIMEOUT|UNAVAILABLE)$/)]);
      } finally {
        await app.close();
      }
    });
  }
});
