// `failOpen` covers a store that cannot answer, nothing else: a store error that is a bug or
// bad data (here INVALID_ARGUMENT from a real store, for a cost it refuses) is 500
// problem+json, reported, and never lets the request through, whatever `failOpen` says.
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrf, rateLimit } from '../src/express.js';
import { headerOf, listen, send, type RawResponse, type Running } from './http.js';

const problemOf = (r: RawResponse) => [r.status, headerOf(r, 'content-type'), JSON.parse(r.body.toString('utf8')).type];
const STORE_ERROR = [500, 'application/problem+json', 'urn:stowage:problem:store-error'];

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  for (const failOpen of [true, false]) {
    describe(`failOpen: ${failOpen}`, () => {
      let app: Running;
      let runs = 0;
      const errors: string[] = [];
      beforeAll(async () => {
        const a = express();
        const onStoreError = (e: { code: string }, ctx: { middleware: string }) => void errors.push(`${ctx.middleware} ${e.code}`);
        a.get(
          '/limited',
          rateLimit({
            store: set.rateLimits(),
            prefix: `rl-${failOpen}:`,
            policies: { algorithm: 'anchored-window', limit: 3, windowMs: 600_000 },
            key: () => 'client',
            cost: (req) => Number(req.headers['x-cost'] ?? 1),
            failOpen,
            onStoreError,
          }),
          (_req, res) => void res.json({ run: ++runs }),
        );
        // A sessionId hook with a bug: a number is not a session id.
        a.post('/transfer', csrf({ store: set.csrf(), sessionId: () => 42 as unknown as string, failOpen, onStoreError }), (_req, res) => {
          runs++;
          res.json({ done: true });
        });
        app = await listen(a);
      });
      afterAll(() => app.close());

      it('rateLimit: a cost the store refuses is 500 store-error, reported, not let through, not counted', async () => {
        for (const cost of ['0', '1.5', '4']) {
          const r = await send(`${app.url}/limited`, { headers: { 'x-cost': cost } });
          expect(problemOf(r)).toEqual(STORE_ERROR);
          expect(headerOf(r, 'retry-after')).toBeUndefined();
        }
        expect(runs).toBe(0);
        expect(errors).toEqual(['rateLimit INVALID_ARGUMENT', 'rateLimit INVALID_ARGUMENT', 'rateLimit INVALID_ARGUMENT']);
        // Nothing was spent: the whole budget is left.
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) statuses.push((await send(`${app.url}/limited`)).status);
        expect(statuses).toEqual([200, 200, 200, 429]);
        expect(runs).toBe(3);
      });

      it('csrf: a sessionId hook returning a number (INVALID_ARGUMENT) is 500 store-error, not let through', async () => {
        errors.length = 0;
        const before = runs;
        const r = await send(`${app.url}/transfer`, { method: 'POST', headers: { 'x-csrf-token': 'forged' } });
        expect(problemOf(r)).toEqual(STORE_ERROR);
        expect(runs).toBe(before);
        expect(errors).toEqual(['csrf INVALID_ARGUMENT']);
      });
    });
  }
});
