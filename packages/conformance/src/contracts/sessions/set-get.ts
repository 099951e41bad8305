import { describe, expect, it } from 'vitest';
import type { ConformanceLimits } from '../../context.js';
import { ALL_BYTES, bytes, expectCode, ODD_KEYS, text } from '../../helpers.js';
import { MIN, type SessionOpen } from './fixtures.js';

export function sessionSetGetTests(open: SessionOpen, limits: ConformanceLimits): void {
  describe('set and get', () => {
    it('get of an unknown id is undefined', async () => {
      const { store } = await open();
      expect(await store.get('nobody')).toBeUndefined();
    });

    it('set inserts version 1 with expiresAt = now + ttlMs', async () => {
      const { store, clock } = await open();
      expect(await store.set('s1', bytes('hello'), { ttlMs: MIN })).toEqual({ version: 1 });
      const got = await store.get('s1');
      expect(got).toBeDefined();
      expect(text(got!.data)).toBe('hello');
      expect(got!.version).toBe(1);
      expect(got!.expiresAt).toBe(clock.now() + MIN);
      expect(got!.absoluteExpiresAt).toBeUndefined();
      expect(got!.owner).toBeUndefined();
    });

    it('each set replaces the data and adds 1 to the version', async () => {
      const { store, clock } = await open();
      for (let v = 1; v <= 10; v++) {
        clock.advance(10);
        expect(await store.set('s', bytes(`v${v}`), { ttlMs: MIN })).toEqual({ version: v });
      }
      const got = await store.get('s');
      expect(text(got!.data)).toBe('v10');
      expect(got!.version).toBe(10);
      expect(got!.expiresAt).toBe(clock.now() + MIN);
    });

    it('round-trips all 256 byte values', async () => {
      const { store } = await open();
      await store.set('bin', ALL_BYTES, { ttlMs: MIN });
      expect(Array.from((await store.get('bin'))!.data)).toEqual(Array.from(ALL_BYTES));
    });

    it('round-trips empty data', async () => {
      const { store } = await open();
      await store.set('empty', new Uint8Array(0), { ttlMs: MIN });
      const got = await store.get('empty');
      expect(got?.data.byteLength).toBe(0);
      expect(got?.version).toBe(1);
    });

    it('accepts a Buffer and returns a Uint8Array', async () => {
      const { store } = await open();
      await store.set('buf', Buffer.from('buffer'), { ttlMs: MIN });
      const got = await store.get('buf');
      expect(got!.data).toBeInstanceOf(Uint8Array);
      expect(text(got!.data)).toBe('buffer');
    });

    it('keeps its own copy: mutating the input or the output does not change the stored data', async () => {
      const { store } = await open();
      const input = bytes('original');
      await store.set('copy', input, { ttlMs: MIN });
      input.fill(0);
      const first = await store.get('copy');
      first!.data.fill(0);
      expect(text((await store.get('copy'))!.data)).toBe('original');
    });

    it(`accepts data of exactly the limit (${limits.sessionDataBytes} bytes)`, async () => {
      const { store } = await open();
      const data = new Uint8Array(limits.sessionDataBytes).fill(0xab);
      await store.set('big', data, { ttlMs: MIN });
      const got = await store.get('big');
      expect(got!.data.byteLength).toBe(limits.sessionDataBytes);
      expect(got!.data[limits.sessionDataBytes - 1]).toBe(0xab);
    });

    it('data over the limit is PAYLOAD_TOO_LARGE and changes nothing', async () => {
      const { store } = await open();
      await store.set('big', bytes('small'), { ttlMs: MIN });
      await expectCode(store.set('big', new Uint8Array(limits.sessionDataBytes + 1), { ttlMs: MIN }), 'PAYLOAD_TOO_LARGE');
      const got = await store.get('big');
      expect(text(got!.data)).toBe('small');
      expect(got!.version).toBe(1);
    });

    it('odd ids round-trip exactly and never collide', async () => {
      const { store } = await open();
      for (const [i, id] of ODD_KEYS.entries()) await store.set(id, bytes(`#${i}`), { ttlMs: MIN });
      for (const [i, id] of ODD_KEYS.entries()) {
        const got = await store.get(id);
        expect(got && text(got.data), `id ${JSON.stringify(id.slice(0, 30))}`).toBe(`#${i}`);
      }
    });

    it('an id and its prefix or extension are different sessions', async () => {
      const { store } = await open();
      await store.set('abc', bytes('1'), { ttlMs: MIN });
      expect(await store.get('ab')).toBeUndefined();
      expect(await store.get('abcd')).toBeUndefined();
      expect(await store.get('ABC')).toBeUndefined();
    });
  });
}
