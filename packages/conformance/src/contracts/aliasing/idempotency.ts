import type { IdempotencyStore, Reservation, StoredResponse } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { callText, expectAnswerUnshared, expectArgumentsUnshared, later, mutationsOf, plain } from '../../aliasing.js';
import { type ConformanceOptions, opener, type StoreFactory } from '../../context.js';
import { bytes } from '../../helpers.js';

const LEASE = 30_000;
const KEEP = 86_400_000;
const FP = 'fingerprint-a';

const response = (): StoredResponse => ({
  status: 201,
  headers: [
    ['content-type', 'application/json'],
    ['set-cookie', 'a=1'],
  ],
  body: bytes('{"id":1}'),
});

function tokenOf(r: Reservation, call: string): string {
  expect(r.state, `${call}: reservation.state`).toBe('reserved');
  return (r as { token: string }).token;
}

/** IdempotencyStore: reservations answered are the caller's own; responses given are copied. */
export function idempotencyAliasingTests(factory: StoreFactory<IdempotencyStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('callers share no objects with the store', () => {
    it('reserve: changing a returned completed reservation (response headers, body) changes nothing stored', async () => {
      const { store } = await open();
      const token = tokenOf(await store.reserve('scope', 'done', FP, { leaseMs: LEASE }), 'IdempotencyStore.reserve');
      expect(await store.complete('scope', 'done', token, response(), { retentionMs: KEEP })).toBe(true);
      const call = callText('IdempotencyStore', 'reserve', 'scope', 'done', FP, { leaseMs: LEASE });
      await expectAnswerUnshared({
        call,
        name: 'reservation',
        make: () => store.reserve('scope', 'done', FP, { leaseMs: LEASE }),
        observed: call,
        observe: () => store.reserve('scope', 'done', FP, { leaseMs: LEASE }),
      });
    });

    it('reserve: changing a returned in-flight reservation changes nothing stored', async () => {
      const { store } = await open();
      const call = callText('IdempotencyStore', 'reserve', 'scope', 'busy', FP, { leaseMs: LEASE });
      tokenOf(await store.reserve('scope', 'busy', FP, { leaseMs: LEASE }), call);
      await expectAnswerUnshared({
        call,
        name: 'reservation',
        make: () => store.reserve('scope', 'busy', FP, { leaseMs: LEASE }),
        observed: call,
        observe: () => store.reserve('scope', 'busy', FP, { leaseMs: LEASE }),
      });
    });

    it('reserve: changing the returned reservation token changes nothing stored', async () => {
      const { store } = await open();
      const mutations = mutationsOf(await store.reserve('scope', 'sample', FP, { leaseMs: LEASE }), 'reservation');
      for (const [i, m] of mutations.entries()) {
        const key = `key-${i}`;
        const call = callText('IdempotencyStore', 'reserve', 'scope', key, FP, { leaseMs: LEASE });
        const answer = await store.reserve('scope', key, FP, { leaseMs: LEASE });
        const token = tokenOf(answer, call);
        m.apply(answer);
        const said = `${call} answered a reservation; the caller then ${m.change}`;
        expect(plain(await store.reserve('scope', key, FP, { leaseMs: LEASE })), `${said}; then ${call} again`).toEqual({
          state: 'in-flight',
          retryAfterMs: LEASE,
        });
        const changed = (answer as { token?: unknown }).token;
        if (typeof changed === 'string' && changed !== token) {
          const complete = `complete('scope', '${key}', the changed token, response)`;
          expect(await store.complete('scope', key, changed, response(), { retentionMs: KEEP }), `${said}; then ${complete}`).toBe(false);
        }
        const complete = `complete('scope', '${key}', the token reserve answered, response)`;
        expect(await store.complete('scope', key, token, response(), { retentionMs: KEEP }), `${said}; then ${complete}`).toBe(true);
      }
    });

    it('reserve: changing opts after the call changes nothing stored', async () => {
      const { store } = await open();
      await expectArgumentsUnshared({
        call: (a, i) => callText('IdempotencyStore', 'reserve', 'scope', `key-${i}`, FP, a['opts']),
        args: () => ({ opts: { leaseMs: LEASE, deadline: later() } }),
        make: (a, i) => store.reserve('scope', `key-${i}`, FP, a['opts'] as { leaseMs: number }),
        observed: (i) => callText('IdempotencyStore', 'reserve', 'scope', `key-${i}`, FP, { leaseMs: LEASE }),
        observe: (i) => store.reserve('scope', `key-${i}`, FP, { leaseMs: LEASE }),
      });
    });

    it('complete, extend: changing the response and opts after the call changes nothing stored', async () => {
      const { store, clock } = await open();
      const replay = (i: number) => store.reserve('scope', `key-${i}`, FP, { leaseMs: LEASE });
      const n = await expectArgumentsUnshared({
        call: (a, i) => callText('IdempotencyStore', 'complete', 'scope', `key-${i}`, '<token from reserve>', a['response'], a['opts']),
        args: () => ({ response: response(), opts: { retentionMs: KEEP, deadline: later() }, extend: { deadline: later() } }),
        make: async (a, i) => {
          const token = tokenOf(await replay(i), 'IdempotencyStore.reserve');
          await store.extend('scope', `key-${i}`, token, LEASE, a['extend'] as { deadline: number });
          return store.complete('scope', `key-${i}`, token, a['response'] as StoredResponse, a['opts'] as { retentionMs: number });
        },
        observed: (i) => callText('IdempotencyStore', 'reserve', 'scope', `key-${i}`, FP, { leaseMs: LEASE }),
        observe: replay,
      });
      // The retention given ends the replay, whatever the caller changed in opts since.
      const completed = { state: 'completed', response: plain(response()) };
      clock.advance(KEEP - 1);
      for (let i = 1; i <= n; i++) expect(plain(await replay(i)), `key-${i} 1 ms before its retention ends`).toEqual(completed);
      clock.advance(1);
      for (let i = 1; i <= n; i++) expect((await replay(i)).state, `key-${i} when its retention ends`).toBe('reserved');
    });
  });
}
