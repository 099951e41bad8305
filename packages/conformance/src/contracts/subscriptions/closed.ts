import type { SubscriptionStore, WakeProof } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { expectCode } from '../../helpers.js';
import { claimedWake, claimProof, off, stateOf, type SubscriptionOpen, webhook } from './fixtures.js';
import { signingKey } from './signing-keys.js';

/** Every method with valid arguments on the records in play (`sub`, `pull` with a claimed wake). */
const EVERY_METHOD: readonly [string, (s: SubscriptionStore, proof: WakeProof) => Promise<unknown>][] = [
  ['put', (s) => s.put('new', webhook())],
  ['get', (s) => s.get('sub')],
  ['delete', (s) => s.delete('sub')],
  ['addStreams', (s) => s.addStreams('sub', ['orders/2'])],
  ['removeStream', (s) => s.removeStream('sub', 'orders/1')],
  ['noteAppend', (s) => s.noteAppend('orders/1', off(1))],
  ['noteDelete', (s) => s.noteDelete('orders/1')],
  ['claim', (s) => s.claim('pull', 'worker-2')],
  ['ack', (s, p) => s.ack('pull', p, [{ stream: 'jobs/1', offset: off(1) }], true)],
  ['release', (s, p) => s.release('pull', p)],
  ['reportDelivery', (s) => s.reportDelivery('sub', 'w_1', 'failed')],
  ['takeDue', (s) => s.takeDue({ limit: 10 })],
  ['signingKeys', (s) => s.signingKeys()],
  ['putSigningKeys', (s) => s.putSigningKeys([signingKey('ds_1')], 0)],
];

export function subscriptionClosedTests(open: SubscriptionOpen, shared: boolean): void {
  describe('after close', () => {
    it('every method rejects with UNAVAILABLE and changes nothing', async () => {
      const opened = await open();
      const { store } = opened;
      await store.put('sub', webhook());
      const claim = await claimedWake(store, 'pull', 'worker-1', 2);
      // A second replica reads what the closed one left (the same instance where replicas do not share).
      const reader = shared ? await opened.reopen() : store;
      const before = shared ? { sub: await stateOf(reader, 'sub'), pull: await stateOf(reader, 'pull') } : undefined;
      await store.close();
      for (const [method, call] of EVERY_METHOD) {
        await expectCode(() => call(store, claimProof(claim)), 'UNAVAILABLE').catch((e: Error) => {
          throw new Error(`${method} after close: ${e.message}`);
        });
      }
      if (shared) {
        expect({ sub: await stateOf(reader, 'sub'), pull: await stateOf(reader, 'pull') }).toEqual(before);
        expect(await reader.get('new')).toBeUndefined();
      }
    });
  });
}
