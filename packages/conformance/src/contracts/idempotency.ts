import type { IdempotencyStore, Reservation, StoredResponse } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { limitsOf, opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import {
  ALL_BYTES,
  BAD_BYTES,
  BAD_DURATIONS,
  BAD_KEYS,
  bytes,
  expectCode,
  fulfilled,
  ODD_KEYS,
  race,
  sleep,
  text,
} from '../helpers.js';

const LEASE = 30_000;
const KEEP = 86_400_000;
const FP = 'fingerprint-a';

const response = (body = 'created'): StoredResponse => ({
  status: 201,
  headers: [
    ['content-type', 'application/json'],
    ['set-cookie', 'a=1'],
    ['set-cookie', 'b=2'],
    ['x-unicode', 'é🔑'],
  ],
  body: bytes(body),
});

function token(r: Reservation): string {
  expect(r.state).toBe('reserved');
  return (r as { token: string }).token;
}

export function idempotencyTests(factory: StoreFactory<IdempotencyStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  const limits = limitsOf(options);

  describe('reserve, complete, replay', () => {
    it('the first reserve gets a token of at least 128 random bits', async () => {
      const { store } = await open();
      const r = await store.reserve('scope', 'key', FP, { leaseMs: LEASE });
      const t = token(r);
      expect(typeof t).toBe('string');
      expect(t.length).toBeGreaterThanOrEqual(22);
    });

    it('a second reserve while the lease runs is in-flight, with the exact time left', async () => {
      const { store, clock } = await open();
      await store.reserve('s', 'k', FP, { leaseMs: LEASE });
      clock.advance(10_000);
      expect(await store.reserve('s', 'k', FP, { leaseMs: LEASE })).toEqual({ state: 'in-flight', retryAfterMs: 20_000 });
    });

    it('complete stores the response; reserve then replays status, headers in order and body', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.complete('s', 'k', t, response(), { retentionMs: KEEP })).toBe(true);
      const replay = await store.reserve('s', 'k', FP, { leaseMs: LEASE });
      expect(replay.state).toBe('completed');
      const stored = (replay as { response: StoredResponse }).response;
      expect(stored.status).toBe(201);
      expect(stored.headers).toEqual(response().headers);
      expect(text(stored.body)).toBe('created');
    });

    it('round-trips all 256 byte values, empty bodies and no headers', async () => {
      const { store } = await open();
      const t1 = token(await store.reserve('s', 'bin', FP, { leaseMs: LEASE }));
      await store.complete('s', 'bin', t1, { status: 200, headers: [], body: ALL_BYTES }, { retentionMs: KEEP });
      const r1 = (await store.reserve('s', 'bin', FP, { leaseMs: LEASE })) as { response: StoredResponse };
      expect(Array.from(r1.response.body)).toEqual(Array.from(ALL_BYTES));
      expect(r1.response.headers).toEqual([]);
      const t2 = token(await store.reserve('s', 'empty', FP, { leaseMs: LEASE }));
      await store.complete('s', 'empty', t2, { status: 204, headers: [['x', '']], body: new Uint8Array(0) }, { retentionMs: KEEP });
      const r2 = (await store.reserve('s', 'empty', FP, { leaseMs: LEASE })) as { response: StoredResponse };
      expect(r2.response).toMatchObject({ status: 204, headers: [['x', '']] });
      expect(r2.response.body.byteLength).toBe(0);
    });

    it('a different fingerprint is a mismatch, in flight and once completed', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.reserve('s', 'k', 'other', { leaseMs: LEASE })).toEqual({ state: 'mismatch' });
      await store.complete('s', 'k', t, response(), { retentionMs: KEEP });
      expect(await store.reserve('s', 'k', 'other', { leaseMs: LEASE })).toEqual({ state: 'mismatch' });
    });

    it('complete with a wrong token is false and changes nothing', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.complete('s', 'k', 'not-the-token', response(), { retentionMs: KEEP })).toBe(false);
      expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('in-flight');
      expect(await store.complete('s', 'k', t, response(), { retentionMs: KEEP })).toBe(true);
    });

    it('complete is false on an unknown key and on a key already completed', async () => {
      const { store } = await open();
      expect(await store.complete('s', 'nothing', 'tok', response(), { retentionMs: KEEP })).toBe(false);
      expect((await store.reserve('s', 'nothing', FP, { leaseMs: LEASE })).state).toBe('reserved');
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.complete('s', 'k', t, response('first'), { retentionMs: KEEP })).toBe(true);
      expect(await store.complete('s', 'k', t, response('second'), { retentionMs: KEEP })).toBe(false);
      const replay = (await store.reserve('s', 'k', FP, { leaseMs: LEASE })) as { response: StoredResponse };
      expect(text(replay.response.body)).toBe('first');
    });

    it('keeps its own copy of the response body', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      const res = response('mutable');
      await store.complete('s', 'k', t, res, { retentionMs: KEEP });
      res.body.fill(0);
      res.headers[0]![1] = 'changed';
      const replay = (await store.reserve('s', 'k', FP, { leaseMs: LEASE })) as { response: StoredResponse };
      expect(text(replay.response.body)).toBe('mutable');
      expect(replay.response.headers[0]).toEqual(['content-type', 'application/json']);
    });
  });

  describe('release and extend', () => {
    it('release frees the key at once; the next reserve gets a new token', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.release('s', 'k', t)).toBe(true);
      const t2 = token(await store.reserve('s', 'k', 'any fingerprint now', { leaseMs: LEASE }));
      expect(t2).not.toBe(t);
      expect(await store.release('s', 'k', t)).toBe(false);
    });

    it('release with a wrong token, or of a completed key, is false and changes nothing', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.release('s', 'k', 'wrong')).toBe(false);
      expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('in-flight');
      await store.complete('s', 'k', t, response(), { retentionMs: KEEP });
      expect(await store.release('s', 'k', t)).toBe(false);
      expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('completed');
    });

    it('extend moves the end of the lease to now + leaseMs', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: 1000 }));
      clock.advance(900);
      expect(await store.extend('s', 'k', t, 5000)).toBe(true);
      clock.advance(4000);
      expect(await store.reserve('s', 'k', FP, { leaseMs: LEASE })).toEqual({ state: 'in-flight', retryAfterMs: 1000 });
      expect(await store.complete('s', 'k', t, response(), { retentionMs: KEEP })).toBe(true);
    });

    it('extend with a wrong token, or of a completed key, is false', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.extend('s', 'k', 'wrong', LEASE)).toBe(false);
      await store.complete('s', 'k', t, response(), { retentionMs: KEEP });
      expect(await store.extend('s', 'k', t, LEASE)).toBe(false);
      expect(await store.extend('s', 'unknown', t, LEASE)).toBe(false);
    });
  });

  describe('expiry and fencing', () => {
    it('the lease ends exactly at leaseMs: the next reserve reclaims with a new token', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: 5000 }));
      clock.advance(4999);
      expect(await store.reserve('s', 'k', FP, { leaseMs: 5000 })).toEqual({ state: 'in-flight', retryAfterMs: 1 });
      clock.advance(1);
      const t2 = token(await store.reserve('s', 'k', FP, { leaseMs: 5000 }));
      expect(t2).not.toBe(t);
    });

    it('an old token changes nothing after its lease was reclaimed (fencing)', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: 1000 }));
      clock.advance(1000);
      const t2 = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.complete('s', 'k', t, response('stale'), { retentionMs: KEEP })).toBe(false);
      expect(await store.extend('s', 'k', t, LEASE)).toBe(false);
      expect(await store.release('s', 'k', t)).toBe(false);
      expect(await store.complete('s', 'k', t2, response('fresh'), { retentionMs: KEEP })).toBe(true);
      const replay = (await store.reserve('s', 'k', FP, { leaseMs: LEASE })) as { response: StoredResponse };
      expect(text(replay.response.body)).toBe('fresh');
    });

    it('a token whose lease ended is refused even if nobody reclaimed the key', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: 1000 }));
      clock.advance(1000);
      expect(await store.complete('s', 'k', t, response(), { retentionMs: KEEP })).toBe(false);
      expect(await store.extend('s', 'k', t, LEASE)).toBe(false);
      expect(await store.release('s', 'k', t)).toBe(false);
    });

    it('an expired lease frees the key for another fingerprint too', async () => {
      const { store, clock } = await open();
      await store.reserve('s', 'k', FP, { leaseMs: 1000 });
      clock.advance(1000);
      expect((await store.reserve('s', 'k', 'another', { leaseMs: 1000 })).state).toBe('reserved');
    });

    it('a completed response is kept for retentionMs, then the key is free', async () => {
      const { store, clock } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      clock.advance(100);
      await store.complete('s', 'k', t, response(), { retentionMs: 10_000 });
      clock.advance(9999);
      expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('completed');
      expect((await store.reserve('s', 'k', 'other', { leaseMs: LEASE })).state).toBe('mismatch');
      clock.advance(1);
      expect((await store.reserve('s', 'k', 'other', { leaseMs: LEASE })).state).toBe('reserved');
      // The new reservation holds nothing of the old record: it is in flight, not completed.
      expect(await store.reserve('s', 'k', 'other', { leaseMs: LEASE })).toMatchObject({ state: 'in-flight' });
    });

    it('prune removes expired keys and keeps live ones', async () => {
      const { store, clock } = await open();
      await store.reserve('s', 'short', FP, { leaseMs: 1000 });
      const t = token(await store.reserve('s', 'done', FP, { leaseMs: 1000 }));
      await store.complete('s', 'done', t, response(), { retentionMs: 2000 });
      await store.reserve('s', 'long', FP, { leaseMs: LEASE });
      clock.advance(2000);
      const removed = await store.prune();
      if (options.nativeExpiry) expect(removed).toBeGreaterThanOrEqual(0);
      else expect(removed).toBe(2);
      expect((await store.reserve('s', 'long', FP, { leaseMs: LEASE })).state).toBe('in-flight');
    });

    it('leases run out in real time on the store clock', async () => {
      const { store } = await open('real-time');
      const t = token(await store.reserve('rt', 'k', FP, { leaseMs: 1000 }));
      const busy = await store.reserve('rt', 'k', FP, { leaseMs: 1000 });
      expect(busy.state).toBe('in-flight');
      expect((busy as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
      expect((busy as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(1000);
      await sleep(1400);
      const again = await store.reserve('rt', 'k', FP, { leaseMs: 1000 });
      expect(token(again)).not.toBe(t);
    });
  });

  describe('scopes and keys', () => {
    it('the same key in two scopes is two records', async () => {
      const { store } = await open();
      token(await store.reserve('alice', 'k', FP, { leaseMs: LEASE }));
      token(await store.reserve('bob', 'k', 'bob-fp', { leaseMs: LEASE }));
    });

    it('scope and key never run together: (a:b, c) and (a, b:c) are distinct', async () => {
      const { store } = await open();
      token(await store.reserve('a:b', 'c', FP, { leaseMs: LEASE }));
      token(await store.reserve('a', 'b:c', FP, { leaseMs: LEASE }));
      token(await store.reserve('a:', 'b:c', FP, { leaseMs: LEASE }));
      token(await store.reserve('a', ':b:c', FP, { leaseMs: LEASE }));
    });

    it('odd scopes and keys round-trip and never collide', async () => {
      const { store } = await open();
      for (const k of ODD_KEYS) token(await store.reserve(k, k, FP, { leaseMs: LEASE }));
      for (const k of ODD_KEYS) expect((await store.reserve(k, k, FP, { leaseMs: LEASE })).state).toBe('in-flight');
      for (const k of ODD_KEYS) expect((await store.reserve('plain scope', k, FP, { leaseMs: LEASE })).state).toBe('reserved');
    });

    it('a fingerprint is compared exactly', async () => {
      const { store } = await open();
      const fp = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
      token(await store.reserve('s', 'k', fp, { leaseMs: LEASE }));
      expect(await store.reserve('s', 'k', fp.toUpperCase(), { leaseMs: LEASE })).toEqual({ state: 'mismatch' });
      expect(await store.reserve('s', 'k', `${fp} `, { leaseMs: LEASE })).toEqual({ state: 'mismatch' });
    });
  });

  describe('size limit', () => {
    it('a response over the limit is PAYLOAD_TOO_LARGE and the reservation stays usable', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      const huge: StoredResponse = { status: 200, headers: [], body: new Uint8Array(limits.idempotencyResponseBytes + 1) };
      await expectCode(store.complete('s', 'k', t, huge, { retentionMs: KEEP }), 'PAYLOAD_TOO_LARGE');
      expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('in-flight');
      expect(await store.complete('s', 'k', t, response(), { retentionMs: KEEP })).toBe(true);
    });

    it('a large response well under the limit round-trips', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      const body = new Uint8Array(Math.floor(limits.idempotencyResponseBytes / 2)).fill(0x5a);
      await store.complete('s', 'k', t, { status: 200, headers: [['a', 'b']], body }, { retentionMs: KEEP });
      const replay = (await store.reserve('s', 'k', FP, { leaseMs: LEASE })) as { response: StoredResponse };
      expect(replay.response.body.byteLength).toBe(body.byteLength);
    });
  });

  describe('concurrency', () => {
    it('200 parallel reserves of one key: exactly one reserved, 199 in-flight', async () => {
      const { store } = await open();
      const results = fulfilled(await race(200, () => store.reserve('s', 'hot', FP, { leaseMs: LEASE })));
      expect(results).toHaveLength(200);
      expect(results.filter((r) => r.state === 'reserved')).toHaveLength(1);
      expect(results.filter((r) => r.state === 'in-flight')).toHaveLength(199);
    });

    it('200 parallel reserves with two fingerprints: one reserved; the rest in-flight or mismatch by fingerprint', async () => {
      const { store } = await open();
      const fps = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 'even' : 'odd'));
      const results = fulfilled(await race(200, (i) => store.reserve('s', 'hot', fps[i]!, { leaseMs: LEASE })));
      const winner = results.findIndex((r) => r.state === 'reserved');
      expect(results.filter((r) => r.state === 'reserved')).toHaveLength(1);
      results.forEach((r, i) => {
        if (i === winner) return;
        expect(r.state).toBe(fps[i] === fps[winner] ? 'in-flight' : 'mismatch');
      });
    });

    it('100 parallel reserves after complete all replay', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      await store.complete('s', 'k', t, response(), { retentionMs: KEEP });
      const results = fulfilled(await race(100, () => store.reserve('s', 'k', FP, { leaseMs: LEASE })));
      expect(results.every((r) => r.state === 'completed')).toBe(true);
    });

    it('50 parallel completes with the valid token: exactly one is true', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      const results = fulfilled(await race(50, (i) => store.complete('s', 'k', t, response(`r${i}`), { retentionMs: KEEP })));
      expect(results.filter(Boolean)).toHaveLength(1);
      const replay = (await store.reserve('s', 'k', FP, { leaseMs: LEASE })) as { response: StoredResponse };
      expect(text(replay.response.body)).toBe(`r${results.indexOf(true)}`);
    });

    it('100 parallel reserves of an expired lease: exactly one reclaims', async () => {
      const { store, clock } = await open();
      await store.reserve('s', 'k', FP, { leaseMs: 1000 });
      clock.advance(1000);
      const results = fulfilled(await race(100, () => store.reserve('s', 'k', FP, { leaseMs: LEASE })));
      expect(results.filter((r) => r.state === 'reserved')).toHaveLength(1);
    });
  });

  describe('bad input is INVALID_ARGUMENT and changes nothing', () => {
    for (const [label, v] of BAD_KEYS) {
      it(`scope, key or fingerprint as ${label}`, async () => {
        const { store } = await open();
        const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
        const bad = v as string;
        await expectCode(store.reserve(bad, 'k', FP, { leaseMs: LEASE }), 'INVALID_ARGUMENT');
        await expectCode(store.reserve('s', bad, FP, { leaseMs: LEASE }), 'INVALID_ARGUMENT');
        await expectCode(store.reserve('s', 'k2', bad, { leaseMs: LEASE }), 'INVALID_ARGUMENT');
        await expectCode(store.complete(bad, 'k', t, response(), { retentionMs: KEEP }), 'INVALID_ARGUMENT');
        await expectCode(store.complete('s', bad, t, response(), { retentionMs: KEEP }), 'INVALID_ARGUMENT');
        await expectCode(store.release('s', bad, t), 'INVALID_ARGUMENT');
        await expectCode(store.extend(bad, 'k', t, LEASE), 'INVALID_ARGUMENT');
        expect(await store.complete('s', 'k', t, response(), { retentionMs: KEEP })).toBe(true);
        expect((await store.reserve('s', 'k2', FP, { leaseMs: LEASE })).state).toBe('reserved');
      });
    }

    for (const [label, d] of BAD_DURATIONS) {
      it(`leaseMs or retentionMs as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.reserve('s', 'k', FP, { leaseMs: d as number }), 'INVALID_ARGUMENT');
        const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
        await expectCode(store.extend('s', 'k', t, d as number), 'INVALID_ARGUMENT');
        await expectCode(store.complete('s', 'k', t, response(), { retentionMs: d as number }), 'INVALID_ARGUMENT');
        expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('in-flight');
      });
    }

    const badResponses: [string, unknown][] = [
      ['null', null],
      ['status 99', { status: 99, headers: [], body: new Uint8Array() }],
      ['status 600', { status: 600, headers: [], body: new Uint8Array() }],
      ['a fractional status', { status: 200.5, headers: [], body: new Uint8Array() }],
      ['a string status', { status: '200', headers: [], body: new Uint8Array() }],
      ['headers not an array', { status: 200, headers: { a: 'b' }, body: new Uint8Array() }],
      ['a header that is not a pair', { status: 200, headers: [['a']], body: new Uint8Array() }],
      ['a header with a number value', { status: 200, headers: [['a', 1]], body: new Uint8Array() }],
      ['a header with an empty name', { status: 200, headers: [['', 'v']], body: new Uint8Array() }],
      ...BAD_BYTES.map(([l, b]): [string, unknown] => [`a body as ${l}`, { status: 200, headers: [], body: b }]),
    ];
    for (const [label, res] of badResponses) {
      it(`response with ${label}`, async () => {
        const { store } = await open();
        const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
        await expectCode(store.complete('s', 'k', t, res as StoredResponse, { retentionMs: KEEP }), 'INVALID_ARGUMENT');
        expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('in-flight');
      });
    }

    it('a token that is not a string', async () => {
      const { store } = await open();
      token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      for (const bad of [undefined, null, 42, {}]) {
        await expectCode(store.complete('s', 'k', bad as string, response(), { retentionMs: KEEP }), 'INVALID_ARGUMENT');
        await expectCode(store.release('s', 'k', bad as string), 'INVALID_ARGUMENT');
        await expectCode(store.extend('s', 'k', bad as string, LEASE), 'INVALID_ARGUMENT');
      }
      expect((await store.reserve('s', 'k', FP, { leaseMs: LEASE })).state).toBe('in-flight');
    });

    it('a string token that is wrong is simply false', async () => {
      const { store } = await open();
      token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      for (const wrong of ['', 'x', 'x'.repeat(5000), '\u0000']) {
        expect(await store.release('s', 'k', wrong)).toBe(false);
      }
    });
  });
}
