// A rate limit before the idempotency middleware (the natural order): every retry spends a
// unit, and a replay carries its own RateLimit header, not the first run's. The rate-limit
// headers are not stored with the response, and one stored before they were excluded is
// not replayed either.
import { fingerprintRequest } from '@stowage/core';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency, rateLimit } from '../src/express.js';
import { headerOf, listen, postJson, type RawResponse, type Running } from './http.js';

const POLICY = { name: 'p', algorithm: 'anchored-window', limit: 5, windowMs: 600_000 } as const;
const remaining = (r: RawResponse): string | undefined => /;r=(\d+);/.exec(headerOf(r, 'ratelimit') ?? '')?.[1];

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let app: Running;
  let runs = 0;
  let idempotencyStore: ReturnType<StoreSet['idempotency']>;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    idempotencyStore = set.idempotency();
    const rateLimits = set.rateLimits();
    const a = express();
    a.disable('x-powered-by');
    a.use(express.json());
    for (const path of ['/orders', '/legacy']) {
      a.post(
        path,
        rateLimit({ store: rateLimits, policies: POLICY, key: () => path }),
        idempotency({ store: idempotencyStore }),
        (req, res) => {
          runs++;
          res.setHeader('X-Order', `o-${runs}`);
          res.status(201).json({ run: runs, item: (req.body as { item: string }).item });
        },
      );
    }
    app = await listen(a);
  });
  afterAll(async () => {
    await app.close();
    await set.close();
  });

  it("a replay carries the replay request's own RateLimit (r decreasing), retries count, and the 6th is 429", async () => {
    const responses: RawResponse[] = [];
    for (let i = 0; i < 5; i++) responses.push(await postJson(`${app.url}/orders`, 'k-1', { item: 'book' }));
    expect(runs).toBe(1);
    expect(responses.map(remaining)).toEqual(['4', '3', '2', '1', '0']);
    for (const r of responses) expect(headerOf(r, 'ratelimit-policy')).toBe('"p";q=5;w=600');
    const [first, ...replays] = responses;
    expect(headerOf(first!, 'idempotent-replayed')).toBeUndefined();
    for (const r of replays) {
      expect([r.status, headerOf(r, 'idempotent-replayed'), headerOf(r, 'x-order')]).toEqual([201, 'true', 'o-1']);
      expect(r.body.equals(first!.body)).toBe(true);
      // One line of each: the stored response brought none of its own.
      expect(r.headers.filter(([n]) => n.toLowerCase().startsWith('ratelimit'))).toHaveLength(2);
    }
    // What the store holds has no rate-limit header: nothing of the first run's budget to replay.
    const body = JSON.stringify({ item: 'book' });
    const held = await idempotencyStore.reserve('-', 'k-1', fingerprintRequest({ method: 'POST', path: '/orders', body }), {
      leaseMs: 1000,
    });
    if (held.state !== 'completed') throw new Error(`expected the stored response, got ${held.state}`);
    expect(held.response.headers.map(([n]) => n)).toEqual(['X-Order', 'Content-Type', 'ETag']);
    // The limit comes first: a retry past it is refused, not replayed, and not stored.
    const denied = await postJson(`${app.url}/orders`, 'k-1', { item: 'book' });
    expect([denied.status, headerOf(denied, 'idempotent-replayed')]).toEqual([429, undefined]);
    expect(runs).toBe(1);
  });

  it('a response stored with rate-limit headers (before they were excluded) is replayed without them', async () => {
    const before = runs;
    const body = JSON.stringify({ item: 'pen' });
    const scope = '-'; // no principal: a valid key, kept as it is (the method and path are in the fingerprint)
    const fingerprint = fingerprintRequest({ method: 'POST', path: '/legacy', body });
    const reserved = await idempotencyStore.reserve(scope, 'k-old', fingerprint, { leaseMs: 10_000 });
    if (reserved.state !== 'reserved') throw new Error(`expected a fresh key, got ${reserved.state}`);
    const stale: [string, string][] = [
      ['Content-Type', 'application/json'],
      ['RateLimit-Policy', '"p";q=5;w=600'],
      ['RateLimit', '"p";r=99;t=600'],
      ['X-RateLimit-Remaining', '99'],
      ['X-Order', 'o-old'],
    ];
    const stored = { status: 201, headers: stale, body: Buffer.from('{"run":0,"item":"pen"}') };
    expect(await idempotencyStore.complete(scope, 'k-old', reserved.token, stored, { retentionMs: 60_000 })).toBe(true);

    const replay = await postJson(`${app.url}/legacy`, 'k-old', { item: 'pen' });
    expect(runs).toBe(before);
    expect([replay.status, headerOf(replay, 'idempotent-replayed'), headerOf(replay, 'x-order')]).toEqual([201, 'true', 'o-old']);
    expect(replay.body.toString()).toBe('{"run":0,"item":"pen"}');
    expect(remaining(replay)).toBe('4'); // this request's consume, not the stored 99
    expect(headerOf(replay, 'x-ratelimit-remaining')).toBeUndefined();
  });
});
