import type { StoredResponse } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { ALL_BYTES, text } from '../../helpers.js';
import { FP, type IdempotencyOpen, KEEP, LEASE, response, token } from './fixtures.js';

export function idempotencyReserveTests(open: IdempotencyOpen): void {
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
}
