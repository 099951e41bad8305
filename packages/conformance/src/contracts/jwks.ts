import type { JwksCacheStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { limitsOf, opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { BAD_DURATIONS, BAD_KEYS, expectCode, fulfilled, ODD_KEYS, race, sleep } from '../helpers.js';

const URI = 'https://issuer.example/.well-known/jwks.json';
const HOUR = 3_600_000;
const doc = (kid: string) =>
  JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', kid, x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }] });

export function jwksTests(factory: StoreFactory<JwksCacheStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  const limits = limitsOf(options);

  describe('get and put', () => {
    it('get of an unknown uri is undefined', async () => {
      const { store } = await open();
      expect(await store.get(URI)).toBeUndefined();
    });

    it('put caches the document with fetchedAt and expiresAt = now + ttlMs', async () => {
      const { store, clock } = await open();
      const fetchedAt = clock.now() - 5;
      expect(await store.put(URI, doc('a'), { fetchedAt, ttlMs: HOUR })).toBe(true);
      expect(await store.get(URI)).toEqual({ jwks: doc('a'), fetchedAt, expiresAt: clock.now() + HOUR });
    });

    it('never replaces a document fetched later; an equal or later fetch replaces', async () => {
      const { store, clock } = await open();
      const t = clock.now();
      expect(await store.put(URI, doc('new'), { fetchedAt: t, ttlMs: HOUR })).toBe(true);
      expect(await store.put(URI, doc('old'), { fetchedAt: t - 1, ttlMs: HOUR })).toBe(false);
      expect((await store.get(URI))!.jwks).toBe(doc('new'));
      expect(await store.put(URI, doc('same-time'), { fetchedAt: t, ttlMs: HOUR })).toBe(true);
      expect((await store.get(URI))!.jwks).toBe(doc('same-time'));
      expect(await store.put(URI, doc('newer'), { fetchedAt: t + 1, ttlMs: 10 })).toBe(true);
      expect(await store.get(URI)).toMatchObject({ jwks: doc('newer'), fetchedAt: t + 1, expiresAt: clock.now() + 10 });
    });

    it('a refused put changes nothing, not even the expiry', async () => {
      const { store, clock } = await open();
      await store.put(URI, doc('a'), { fetchedAt: 100, ttlMs: 1000 });
      clock.advance(500);
      expect(await store.put(URI, doc('b'), { fetchedAt: 99, ttlMs: HOUR })).toBe(false);
      clock.advance(500);
      expect(await store.get(URI)).toBeUndefined();
    });

    it('round-trips any string exactly (unicode, escapes, whitespace)', async () => {
      const { store } = await open();
      const odd = '{"keys":[],"note":"é 🔑 \\u0000 \\n \'quoted\' \\\\"}\n\t ';
      await store.put(URI, odd, { fetchedAt: 1, ttlMs: HOUR });
      expect((await store.get(URI))!.jwks).toBe(odd);
    });

    it('odd uris never collide', async () => {
      const { store } = await open();
      for (const [i, uri] of ODD_KEYS.entries()) await store.put(uri, doc(String(i)), { fetchedAt: i, ttlMs: HOUR });
      for (const [i, uri] of ODD_KEYS.entries()) expect((await store.get(uri))!.jwks).toBe(doc(String(i)));
    });

    it('a document of the size limit is kept; one byte more is PAYLOAD_TOO_LARGE', async () => {
      const { store } = await open();
      const exact = 'x'.repeat(limits.jwksDocumentBytes);
      expect(await store.put(URI, exact, { fetchedAt: 1, ttlMs: HOUR })).toBe(true);
      await expectCode(store.put(URI, `${exact}y`, { fetchedAt: 2, ttlMs: HOUR }), 'PAYLOAD_TOO_LARGE');
      const multibyte = 'é'.repeat(limits.jwksDocumentBytes / 2 + 1);
      await expectCode(store.put(URI, multibyte, { fetchedAt: 3, ttlMs: HOUR }), 'PAYLOAD_TOO_LARGE');
      expect((await store.get(URI))!.fetchedAt).toBe(1);
    });
  });

  describe('expiry', () => {
    it('a document is there 1 ms before expiresAt and gone at it', async () => {
      const { store, clock } = await open();
      await store.put(URI, doc('a'), { fetchedAt: clock.now(), ttlMs: 5000 });
      clock.advance(4999);
      expect(await store.get(URI)).toBeDefined();
      clock.advance(1);
      expect(await store.get(URI)).toBeUndefined();
    });

    it('after expiry, a document fetched earlier may be cached again', async () => {
      const { store, clock } = await open();
      await store.put(URI, doc('late'), { fetchedAt: 5000, ttlMs: 1000 });
      clock.advance(1000);
      expect(await store.put(URI, doc('early'), { fetchedAt: 1000, ttlMs: HOUR })).toBe(true);
      expect((await store.get(URI))!.jwks).toBe(doc('early'));
    });

    it('prune removes expired documents and keeps live ones', async () => {
      const { store, clock } = await open();
      await store.put('a', doc('a'), { fetchedAt: 1, ttlMs: 1000 });
      await store.put('b', doc('b'), { fetchedAt: 1, ttlMs: HOUR });
      clock.advance(1000);
      const removed = await store.prune();
      if (options.nativeExpiry) expect(removed).toBeLessThanOrEqual(1);
      else expect(removed).toBe(1);
      expect(await store.get('b')).toBeDefined();
    });

    it('documents expire in real time on the store clock', async () => {
      const { store } = await open('real-time');
      await store.put(URI, doc('rt'), { fetchedAt: Date.now(), ttlMs: 1000 });
      expect(await store.get(URI)).toBeDefined();
      await sleep(1400);
      expect(await store.get(URI)).toBeUndefined();
    });
  });

  describe('concurrency', () => {
    it('50 replicas racing to put: the latest fetch wins whatever the order', async () => {
      const { store } = await open();
      const order = Array.from({ length: 50 }, (_, i) => (i * 37) % 50);
      const results = fulfilled(await race(50, (i) => store.put(URI, doc(`f${order[i]}`), { fetchedAt: 1000 + order[i]!, ttlMs: HOUR })));
      expect(results).toHaveLength(50);
      expect(results[order.indexOf(49)]).toBe(true);
      expect(await store.get(URI)).toMatchObject({ jwks: doc('f49'), fetchedAt: 1049 });
    });
  });

  describe('bad input is INVALID_ARGUMENT', () => {
    for (const [label, uri] of BAD_KEYS) {
      it(`uri as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.get(uri as string), 'INVALID_ARGUMENT');
        await expectCode(store.put(uri as string, doc('a'), { fetchedAt: 1, ttlMs: HOUR }), 'INVALID_ARGUMENT');
      });
    }
    for (const [label, ttl] of BAD_DURATIONS) {
      it(`ttlMs as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.put(URI, doc('a'), { fetchedAt: 1, ttlMs: ttl as number }), 'INVALID_ARGUMENT');
        expect(await store.get(URI)).toBeUndefined();
      });
    }
    for (const [label, at] of [
      ['negative', -1],
      ['fractional', 1.5],
      ['NaN', Number.NaN],
      ['a string', '1'],
      ['missing', undefined],
      ['past year 275760', 8.64e15 + 1],
    ] as const) {
      it(`fetchedAt as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.put(URI, doc('a'), { fetchedAt: at as unknown as number, ttlMs: HOUR }), 'INVALID_ARGUMENT');
        expect(await store.get(URI)).toBeUndefined();
      });
    }
    it('a document that is not a string, and missing options', async () => {
      const { store } = await open();
      for (const bad of [undefined, null, 1, { keys: [] }, new Uint8Array(2)]) {
        await expectCode(store.put(URI, bad as unknown as string, { fetchedAt: 1, ttlMs: HOUR }), 'INVALID_ARGUMENT');
      }
      await expectCode(store.put(URI, doc('a'), undefined as never), 'INVALID_ARGUMENT');
      expect(await store.get(URI)).toBeUndefined();
    });
  });
}
