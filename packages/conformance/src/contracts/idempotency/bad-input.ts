import type { StoredResponse } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { BAD_BYTES, BAD_DURATIONS, BAD_KEYS, expectCode } from '../../helpers.js';
import { FP, type IdempotencyOpen, KEEP, LEASE, response, token } from './fixtures.js';

export function idempotencyBadInputTests(open: IdempotencyOpen): void {
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

    it('no token, the empty one included, holds a completed key', async () => {
      const { store } = await open();
      const t = token(await store.reserve('s', 'k', FP, { leaseMs: LEASE }));
      expect(await store.complete('s', 'k', t, response(), { retentionMs: KEEP })).toBe(true);
      for (const wrong of ['', t, 'x']) {
        expect(await store.complete('s', 'k', wrong, response('replaced'), { retentionMs: KEEP })).toBe(false);
        expect(await store.extend('s', 'k', wrong, LEASE)).toBe(false);
        expect(await store.release('s', 'k', wrong)).toBe(false);
      }
      // Still completed with the first response: a retry replays it, never runs again.
      const again = await store.reserve('s', 'k', FP, { leaseMs: LEASE });
      expect(again.state).toBe('completed');
      const stored = (again as { response: StoredResponse }).response;
      expect([stored.status, Buffer.from(stored.body).toString()]).toEqual([201, 'created']);
    });
  });
}
