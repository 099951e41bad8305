// Keys from keyGenerator that a store cannot take as they are (over 1024 UTF-8 bytes, with
// U+0000, with a lone surrogate) go through core's toStoreKey: counted exactly, refunded,
// read and reset like any other key, with or without passOnStoreError. No store error.
import { describeStoreBackends, freshNamespace, type StoreSet, asJsonHeader, UNKEYABLE_REQUEST_DATA } from '@stowage/test-stores';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { get, limiterApp, type LimiterApp } from './limiter-app.js';

const SHAPES = UNKEYABLE_REQUEST_DATA;
const asHeader = asJsonHeader;

async function statuses(a: LimiterApp, path: string, client: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await get(a, path, asHeader(client))).status);
  return out;
}

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  for (const passOnStoreError of [false, true]) {
    it(`counts each such key exactly: 3 of 6 with limit 3, apart from 'alice' (passOnStoreError: ${passOnStoreError})`, async () => {
      const a = await limiterApp(
        set.rateLimits(),
        {
          windowMs: 600_000,
          limit: 3,
          passOnStoreError,
          keyGenerator: (req) => JSON.parse(String(req.headers['x-client'])) as string,
        },
        { prefix: `erl-${passOnStoreError}:` },
      );
      try {
        for (const [shape, client] of Object.entries(SHAPES)) {
          expect(await statuses(a, '/ok', client, 6), shape).toEqual([200, 200, 200, 429, 429, 429]);
          expect((await a.limiter.getKey(client))?.totalHits, shape).toBe(6);
        }
        // Two lone surrogates, and U+FFFD (what UTF-8 makes of both), are three clients; 'alice' is untouched.
        for (const client of ['bob\ud800', 'bob\udc00', 'bob\ufffd', 'alice'])
          expect(await statuses(a, '/ok', client, 4), client).toEqual([200, 200, 200, 429]);
        // resetKey reaches the same key.
        await a.limiter.resetKey(SHAPES['with U+0000']!);
        expect(await a.limiter.getKey(SHAPES['with U+0000']!)).toBeUndefined();
        expect(await statuses(a, '/ok', SHAPES['with U+0000']!, 1)).toEqual([200]);
        expect(a.logged).toEqual([]);
        expect(a.errors).toEqual([]);
      } finally {
        await a.close();
      }
    });
  }

  it('refunds (skipFailedRequests) reach the same keys: failed requests do not count', async () => {
    const a = await limiterApp(
      set.rateLimits(),
      {
        windowMs: 600_000,
        limit: 3,
        skipFailedRequests: true,
        keyGenerator: (req) => JSON.parse(String(req.headers['x-client'])) as string,
      },
      { prefix: 'erl-refunds:' },
    );
    try {
      for (const [shape, client] of Object.entries(SHAPES)) {
        expect(await statuses(a, '/fail', client, 3), shape).toEqual([500, 500, 500]);
        // express-rate-limit refunds after the response: wait until the three are taken back.
        await expect.poll(async () => (await a.limiter.getKey(client))?.totalHits ?? 0, { timeout: 2000 }).toBe(0);
        expect(await statuses(a, '/ok', client, 4), shape).toEqual([200, 200, 200, 429]);
      }
      expect(a.logged).toEqual([]);
    } finally {
      await a.close();
    }
  });
});
