// A request-timeout middleware before ours answers 503 while the backend is paused; the store's
// verdict comes after. It used to answer or set headers on the sent response inside a promise
// callback: ERR_HTTP_HEADERS_SENT, unhandled, ended the process. Now a late verdict changes
// nothing: no second answer, no handler for a client already answered, and a key it reserved
// is freed for the retry. Memory is not here: it has no backend to pause.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { csrf, idempotency, rateLimit } from '../src/express.js';
import { listen, postJson, type Running, send } from './http.js';

/** Answers 503 after `ms` unless something answered first (as connect-timeout and its kind do). */
const answerAfter =
  (ms: number) =>
  (_req: Request, res: Response, next: NextFunction): void => {
    const timer = setTimeout(() => {
      if (!res.headersSent) res.status(503).send('request timed out');
    }, ms);
    res.on('close', () => clearTimeout(timer));
    next();
  };

await describeStoreBackends(
  (backend) => {
    let set: StoreSet;
    let app: Running;
    const runs = { limited: 0, denied: 0, idempotent: 0, protected: 0 };
    const reports: string[] = [];

    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      const a = express();
      a.use(express.json());
      a.use(answerAfter(300));
      const onStoreError = (e: { code: string }) => void reports.push(e.code);
      // The verdicts come within the middleware's time limit, after the 503.
      const limits = { store: set.rateLimits(), timeoutMs: 3000, onStoreError };
      a.post('/limited', rateLimit({ ...limits, policies: { algorithm: 'gcra', limit: 100, windowMs: 60_000 } }), (_q, r) => {
        runs.limited++;
        r.send('ran');
      });
      a.post('/denied', rateLimit({ ...limits, policies: { algorithm: 'fixed-window', limit: 1, windowMs: 60_000 } }), (_q, r) => {
        runs.denied++;
        r.send('ran');
      });
      a.post('/idempotent', idempotency({ store: set.idempotency(), timeoutMs: 3000, onStoreError }), (_q, r) => {
        runs.idempotent++;
        r.status(201).json({ run: runs.idempotent });
      });
      a.post('/protected', csrf({ store: set.csrf(), timeoutMs: 3000, sessionId: () => 's', onStoreError }), (_q, r) => {
        runs.protected++;
        r.send('ran');
      });
      app = await listen(a);
      // Warm: tables made, and /denied's one unit spent (its next verdict answers 429).
      expect((await send(`${app.url}/limited`, { method: 'POST' })).status).toBe(200);
      expect((await send(`${app.url}/denied`, { method: 'POST' })).status).toBe(200);
      expect((await postJson(`${app.url}/idempotent`, 'warm', {})).status).toBe(201);
      Object.assign(runs, { limited: 0, denied: 0, idempotent: 0, protected: 0 });
    });
    afterAll(async () => {
      await app.close();
      await set.close();
    });

    it('a verdict that comes after the 503 neither answers again nor runs the handler; a reserved key is freed', async () => {
      const pause = await set.pause(1200);
      const answers = await Promise.all([
        send(`${app.url}/limited`, { method: 'POST' }),
        send(`${app.url}/denied`, { method: 'POST' }),
        postJson(`${app.url}/idempotent`, 'k-late', {}),
        send(`${app.url}/protected`, { method: 'POST', headers: { 'x-csrf-token': 'not-a-token' } }),
      ]);
      expect(answers.map((r) => [r.status, r.body.toString()])).toEqual(Array(4).fill([503, 'request timed out']));
      await pause.over;
      await sleep(300); // the verdicts have come
      expect(runs).toEqual({ limited: 0, denied: 0, idempotent: 0, protected: 0 });
      // The key was reserved for a handler that never ran: the retry runs it, once.
      const retry = await postJson(`${app.url}/idempotent`, 'k-late', {});
      expect([retry.status, JSON.parse(retry.body.toString())]).toEqual([201, { run: 1 }]);
      expect(runs.idempotent).toBe(1);
      expect(reports).toEqual([]);
    });
  },
  ['sqlite', 'postgres', 'redis'],
);
