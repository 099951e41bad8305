// A request-timeout middleware answers (503, 504) while the handler goes on running. That
// answer used to free the key, so the client's retry ran the handler a second time beside the
// first. Now the key stays held until its lease lapses: every retry meanwhile is 409, the
// handler has run once, and only a retry after the lease runs it again. On Express with a
// connect-timeout-style 503, and on Hono with its own `timeout()` inside and outside ours.
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { describeStoreBackends, freshNamespace, Gates, type StoreSet } from '@stowage/test-stores';
import express, { type NextFunction, type Request, type Response } from 'express';
import { type Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { timeout } from 'hono/timeout';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ExpressIdempotencyOptions, idempotency as expressIdempotency } from '../src/express.js';
import { idempotency as honoIdempotency } from '../src/hono.js';
import { listen, postJson, type Running } from './http.js';

// The request timeout applies to the retries too: each must have its verdict (409) from the
// store before it. 200 ms was not enough for 20 retries at once on PostgreSQL in a loaded CI
// run (some got the timeout's 503); the first request waits at its gate past any timeout.
const TIMEOUT_MS = 1000;
// A heartbeat every 500 ms: a stall of a loaded machine does not let the key lapse early.
const LEASE_MS = 1500;

/** As connect-timeout does: after `ms`, mark the request timed out and hand Express a 503. */
const connectTimeout =
  (ms: number) =>
  (req: Request, res: Response, next: NextFunction): void => {
    const timer = setTimeout(() => {
      (req as Request & { timedout?: boolean }).timedout = true;
      next(Object.assign(new Error('Response timeout'), { status: 503 }));
    }, ms);
    res.on('close', () => clearTimeout(timer));
    next();
  };

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let expressApp: Running;
  let honoServer: ServerType;
  let honoUrl = '';
  const gates = new Gates();
  const runs = new Map<string, number>();
  /** A handler's body: the first run of a key waits at its gate (past the timeout). */
  const work = async (key: string): Promise<number> => {
    const run = (runs.get(key) ?? 0) + 1;
    runs.set(key, run);
    if (run === 1) await gates.pass(key);
    return run;
  };

  /** An Express app whose `/pay` runs `work` behind a connect-timeout-style 503 after `timeoutMs`. */
  const expressPay = (timeoutMs: number, options: ExpressIdempotencyOptions): Promise<Running> => {
    const e = express();
    e.use(express.json());
    e.post('/pay', connectTimeout(timeoutMs), expressIdempotency(options), async (req, res) => {
      const run = await work(String(req.headers['idempotency-key']));
      if (!res.headersSent) res.status(201).json({ run });
    });
    e.use((err: { status?: number; message: string }, _req: Request, res: Response, _next: NextFunction) => {
      res.status(err.status ?? 500).send(err.message);
    });
    return listen(e);
  };

  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const options = { store: set.idempotency(), leaseMs: LEASE_MS };

    expressApp = await expressPay(TIMEOUT_MS, options);

    const h = new Hono();
    // A plain-text error answer (not Hono's default): @hono/node-server writes it without reading a body stream.
    h.onError((err, c) => c.text(err.message, err instanceof HTTPException ? err.status : 500));
    const handler = async (c: Context) => c.json({ run: await work(c.req.header('idempotency-key')!) }, 201);
    h.post('/inner', honoIdempotency(options), timeout(TIMEOUT_MS), handler);
    h.post('/outer', timeout(TIMEOUT_MS), honoIdempotency(options), handler);
    const requestTimeout = new HTTPException(408, { message: 'Request Timeout' });
    h.post('/outer-408', timeout(TIMEOUT_MS, requestTimeout), honoIdempotency(options), handler);
    await new Promise<void>((resolve) => {
      honoServer = serve({ fetch: h.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
        honoUrl = `http://127.0.0.1:${info.port}`;
        resolve();
      });
    });
  });
  afterAll(async () => {
    await expressApp.close();
    await new Promise((r) => honoServer.close(r));
    await set.close();
  });

  const cases = [
    { name: 'Express, a connect-timeout-style 503', url: () => `${expressApp.url}/pay`, status: 503 },
    { name: 'Hono, timeout() after idempotency() (504 while the handler runs)', url: () => `${honoUrl}/inner`, status: 504 },
    { name: 'Hono, timeout() before idempotency() (504, kept by the context)', url: () => `${honoUrl}/outer`, status: 504 },
    {
      name: 'Hono, timeout() before idempotency() answering 408 (a status that is stored)',
      url: () => `${honoUrl}/outer-408`,
      status: 408,
    },
  ];

  it.each(cases)('$name: retries get 409 until the lease lapses, the handler runs once meanwhile', async ({ url, status }) => {
    const key = `k-${Math.random().toString(36).slice(2)}`;
    const first = postJson(url(), key, { amount: 5 });
    await gates.arrival(key);
    expect((await first).status).toBe(status);

    // 20 retries at once while the first run goes on: none runs the handler.
    const during = await Promise.all(Array.from({ length: 20 }, () => postJson(url(), key, { amount: 5 })));
    expect(during.map((r) => r.status)).toEqual(Array(20).fill(409));

    // The first run ends; its answer was the timeout's, so the key is held until the lease lapses.
    gates.open(key);
    await sleep(50);
    expect((await postJson(url(), key, { amount: 5 })).status).toBe(409);
    expect(runs.get(key)).toBe(1);

    // After the lease, a retry runs the handler again (what a timeout's answer cannot rule out).
    await sleep(LEASE_MS + 500);
    const after = await postJson(url(), key, { amount: 5 });
    expect([after.status, JSON.parse(after.body.toString())]).toEqual([201, { run: 2 }]);
    expect(runs.get(key)).toBe(2);
  });

  it('the key is held leaseMs after the answer, not from the heartbeat before it', async () => {
    // The answer comes just before the first heartbeat (every leaseMs / 3): a lease counted from
    // the reservation would lapse at 3,000 ms; counted from the answer, at about 3,950 ms.
    const leaseMs = 3000;
    const app = await expressPay(950, { store: set.idempotency(), leaseMs });
    try {
      const key = `k-${Math.random().toString(36).slice(2)}`;
      const first = postJson(`${app.url}/pay`, key, {});
      await gates.arrival(key);
      expect((await first).status).toBe(503);
      const answeredAt = Date.now();
      gates.open(key);
      await sleep(answeredAt + 2500 - Date.now());
      expect((await postJson(`${app.url}/pay`, key, {})).status).toBe(409);
      expect(runs.get(key)).toBe(1);
      await sleep(answeredAt + leaseMs + 500 - Date.now());
      expect((await postJson(`${app.url}/pay`, key, {})).status).toBe(201);
      expect(runs.get(key)).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('timeoutStatuses: [] frees the key at the answer, as any response not kept', async () => {
    const app = await expressPay(TIMEOUT_MS, { store: set.idempotency(), leaseMs: LEASE_MS, timeoutStatuses: [] });
    try {
      const key = `k-${Math.random().toString(36).slice(2)}`;
      const first = postJson(`${app.url}/pay`, key, {});
      await gates.arrival(key);
      expect((await first).status).toBe(503);
      const retry = await postJson(`${app.url}/pay`, key, {});
      expect([retry.status, JSON.parse(retry.body.toString())]).toEqual([201, { run: 2 }]);
      gates.open(key);
    } finally {
      await app.close();
    }
  });

  it('timeoutStatuses must be HTTP statuses: INVALID_ARGUMENT', () => {
    // biome-ignore lint/suspicious/noSparseArray: a hole is one of the bad inputs
    for (const timeoutStatuses of [503, null, [99], [600], ['503'], [503.5], [, 503]]) {
      expect(() => expressIdempotency({ store: set.idempotency(), timeoutStatuses: timeoutStatuses as never })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
  });
});
