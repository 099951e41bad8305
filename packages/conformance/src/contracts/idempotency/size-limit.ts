import type { StoredResponse } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { ConformanceLimits } from '../../context.js';
import { expectCode } from '../../helpers.js';
import { FP, type IdempotencyOpen, KEEP, LEASE, response, token } from './fixtures.js';

export function idempotencySizeLimitTests(open: IdempotencyOpen, limits: ConformanceLimits): void {
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
}
