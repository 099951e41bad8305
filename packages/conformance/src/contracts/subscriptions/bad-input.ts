import type { SubscriptionDefinition, SubscriptionStore, WakeProof } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { expectCode } from '../../helpers.js';
import { claimedWake, claimProof, off, pullWake, stateOf, type SubscriptionOpen, webhook } from './fixtures.js';
import { signingKey } from './signing-keys.js';

type Call = (s: SubscriptionStore, proof: WakeProof) => Promise<unknown>;

const def = (over: Record<string, unknown>) => ({ ...webhook(), ...over }) as unknown as SubscriptionDefinition;
const ACK = [{ stream: 'jobs/1', offset: off(1) }];

/** Calls with one malformed argument each; ids `new`, `sub` (webhook) and `pull` (a claimed wake) are the records in play. */
const BAD: readonly [string, Call][] = [
  ['put with an empty id', (s) => s.put('', webhook())],
  ['put with an id holding NUL', (s) => s.put('a\u0000b', webhook())],
  ['put with a numeric id', (s) => s.put(42 as never, webhook())],
  ['put with a definition of null', (s) => s.put('new', null as never)],
  ["put with type 'push'", (s) => s.put('new', def({ type: 'push' }))],
  ['put with neither pattern nor streams', (s) => s.put('new', def({ streams: [] }))],
  ['put with streams a string', (s) => s.put('new', def({ streams: 'orders/1' }))],
  ['put with a stream that is a number', (s) => s.put('new', def({ streams: [42] }))],
  ['put with an empty stream name', (s) => s.put('new', def({ streams: [''] }))],
  ['put with a stream name of only slashes', (s) => s.put('new', def({ streams: ['///'] }))],
  ['put with a numeric pattern', (s) => s.put('new', def({ pattern: 42 }))],
  ['put of a webhook without webhookUrl', (s) => s.put('new', def({ webhookUrl: undefined }))],
  ['put of a webhook with a wakeStream', (s) => s.put('new', def({ wakeStream: 'wakes' }))],
  ['put of a pull-wake without wakeStream', (s) => s.put('new', { ...pullWake(), wakeStream: undefined } as never)],
  ['put of a pull-wake with a webhookUrl', (s) => s.put('new', { ...pullWake(), webhookUrl: 'https://h.example/' })],
  ['put with leaseTtlMs 0', (s) => s.put('new', def({ leaseTtlMs: 0 }))],
  ['put with leaseTtlMs -1000', (s) => s.put('new', def({ leaseTtlMs: -1000 }))],
  ['put with leaseTtlMs 1000.5', (s) => s.put('new', def({ leaseTtlMs: 1000.5 }))],
  ["put with leaseTtlMs '30000'", (s) => s.put('new', def({ leaseTtlMs: '30000' }))],
  ['put with leaseTtlMs NaN', (s) => s.put('new', def({ leaseTtlMs: Number.NaN }))],
  ['put with a numeric description', (s) => s.put('new', def({ description: 42 }))],
  ['get with an empty id', (s) => s.get('')],
  ['get with options that are a string', (s) => s.get('sub', 'soon' as never)],
  ['delete with an id of null', (s) => s.delete(null as never)],
  ['addStreams with streams a string', (s) => s.addStreams('sub', 'orders/2' as never)],
  ['addStreams with an empty stream name', (s) => s.addStreams('sub', ['orders/2', ''])],
  ['addStreams with a stream of null', (s) => s.addStreams('sub', [null as never])],
  ['removeStream with an empty stream name', (s) => s.removeStream('sub', '')],
  ['removeStream with a numeric stream', (s) => s.removeStream('sub', 1 as never)],
  ['noteAppend with an empty stream name', (s) => s.noteAppend('', off(9))],
  ["noteAppend with tailOffset 'soon'", (s) => s.noteAppend('orders/1', 'soon')],
  ['noteAppend with a numeric tailOffset', (s) => s.noteAppend('orders/1', 9 as never)],
  ['noteAppend without a tailOffset', (s) => s.noteAppend('orders/1', undefined as never)],
  ['noteDelete with an empty stream name', (s) => s.noteDelete('')],
  ['claim with an empty worker', (s) => s.claim('pull', '')],
  ['claim with a numeric worker', (s) => s.claim('pull', 7 as never)],
  ['ack with a proof of null', (s) => s.ack('pull', null as never, ACK, true)],
  ['ack with generation -1', (s, p) => s.ack('pull', { ...p, generation: -1 }, ACK, true)],
  ['ack with generation 1.5', (s, p) => s.ack('pull', { ...p, generation: 1.5 }, ACK, true)],
  ["ack with generation '1'", (s, p) => s.ack('pull', { ...p, generation: '1' as never }, ACK, true)],
  ['ack with an empty token', (s, p) => s.ack('pull', { ...p, token: '' }, ACK, true)],
  ['ack with a numeric wakeId', (s, p) => s.ack('pull', { ...p, wakeId: 5 as never }, ACK, true)],
  ['ack with acks a string', (s, p) => s.ack('pull', p, 'jobs/1' as never, true)],
  ['ack with an ack of an empty stream name', (s, p) => s.ack('pull', p, [...ACK, { stream: '', offset: off(1) }], true)],
  ['ack with a numeric offset', (s, p) => s.ack('pull', p, [{ stream: 'jobs/1', offset: 1 as never }], true)],
  ['ack with an ack of null', (s, p) => s.ack('pull', p, [null as never], true)],
  ["ack with done 'yes'", (s, p) => s.ack('pull', p, ACK, 'yes' as never)],
  ['release without a token', (s, p) => s.release('pull', { wakeId: p.wakeId, generation: p.generation } as never)],
  ["reportDelivery with outcome 'ok'", (s) => s.reportDelivery('sub', 'w', 'ok' as never)],
  ['reportDelivery with an empty wakeId', (s) => s.reportDelivery('sub', '', 'done')],
  ['takeDue without options', (s) => s.takeDue(undefined as never)],
  ['takeDue with limit 0', (s) => s.takeDue({ limit: 0 })],
  ['takeDue with limit -1', (s) => s.takeDue({ limit: -1 })],
  ['takeDue with limit 1.5', (s) => s.takeDue({ limit: 1.5 })],
  ["takeDue with limit '10'", (s) => s.takeDue({ limit: '10' as never })],
  ['signingKeys with options that are a number', (s) => s.signingKeys(5 as never)],
  ['putSigningKeys with keys a string', (s) => s.putSigningKeys('keys' as never, 0)],
  ['putSigningKeys with ifVersion -1', (s) => s.putSigningKeys([signingKey('ds_x')], -1)],
  ['putSigningKeys with ifVersion 0.5', (s) => s.putSigningKeys([signingKey('ds_x')], 0.5)],
  ['putSigningKeys with a key of null', (s) => s.putSigningKeys([null as never], 0)],
  ['putSigningKeys with an empty kid', (s) => s.putSigningKeys([{ ...signingKey('ds_x'), kid: '' }], 0)],
  ["putSigningKeys with createdAt 'now'", (s) => s.putSigningKeys([{ ...signingKey('ds_x'), createdAt: 'now' as never }], 0)],
];

export function subscriptionBadInputTests(open: SubscriptionOpen): void {
  describe('bad input', () => {
    it('each malformed argument is INVALID_ARGUMENT, and nothing changes', async () => {
      const { store, clock } = await open();
      await store.put('sub', webhook());
      const claim = await claimedWake(store, 'pull', 'worker-1', 2);
      const snapshot = async () => ({
        sub: await stateOf(store, 'sub'),
        pull: await stateOf(store, 'pull'),
        created: await store.get('new'),
      });
      const before = await snapshot();
      for (const [label, call] of BAD) {
        await expectCode(() => call(store, claimProof(claim)), 'INVALID_ARGUMENT').catch((e: Error) => {
          throw new Error(`${label}: ${e.message}`);
        });
      }
      expect(await snapshot()).toEqual(before);
      // Nothing was woken, claimed or scheduled by the refused calls either.
      clock.advance(1000);
      expect(await store.takeDue({ limit: 100 })).toEqual([]);
      expect(await store.ack('pull', claimProof(claim), ACK, false)).toEqual({ ok: true });
    });
  });
}
