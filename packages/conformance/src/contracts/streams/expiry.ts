import { describe, expect, it } from 'vitest';
import { expectCode, sleep } from '../../helpers.js';
import { HOUR, msgs, readAll, type StreamOpen, TEXT } from './fixtures.js';

export function streamExpiryTests(open: StreamOpen): void {
  describe('expiry', () => {
    it('an idle TTL ends exactly ttlMs after the last access', async () => {
      const { store, clock } = await open();
      await store.create('s', { contentType: TEXT, ttlMs: 10_000 });
      clock.advance(9_999);
      expect(await store.head('s')).toBeDefined();
      clock.advance(1);
      expect(await store.head('s')).toBeUndefined();
      await expectCode(store.read('s', '-1'), 'NOT_FOUND');
      await expectCode(store.append('s', msgs('a')), 'NOT_FOUND');
      await expectCode(store.closeStream('s'), 'NOT_FOUND');
      expect(await store.delete('s')).toBe(false);
    });

    it('reads, appends and closes renew the idle TTL; head does not', async () => {
      const { store, clock } = await open();
      await store.create('s', { contentType: TEXT, ttlMs: 1000 });
      clock.advance(900);
      await store.append('s', msgs('a'));
      clock.advance(900);
      await store.read('s', '-1');
      clock.advance(900);
      await store.closeStream('s');
      clock.advance(900);
      expect(await store.head('s')).toBeDefined();
      clock.advance(99);
      expect(await store.head('s')).toBeDefined();
      clock.advance(1);
      expect(await store.head('s')).toBeUndefined();
    });

    it('an absolute expiresAt is not renewed by reads or writes', async () => {
      const { store, clock } = await open();
      const at = clock.now() + 2000;
      const r = await store.create('s', { contentType: TEXT, expiresAt: at });
      expect(r.info.expiresAt).toBe(at);
      clock.advance(1500);
      await store.append('s', msgs('a'));
      await store.read('s', '-1');
      clock.set(at - 1);
      expect(await store.head('s')).toBeDefined();
      clock.set(at);
      expect(await store.head('s')).toBeUndefined();
    });

    it('an expired name can be created again as a new stream', async () => {
      const { store, clock } = await open();
      const first = await store.create('s', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('old') });
      clock.advance(1000);
      const second = await store.create('s', { contentType: TEXT });
      expect(second.status).toBe('created');
      expect(second.info.id).not.toBe(first.info.id);
      expect(await readAll(store, 's')).toEqual([]);
    });

    it('cleanupExpired deletes expired streams and returns how many', async () => {
      const { store, clock } = await open();
      for (let i = 0; i < 3; i++) await store.create(`short-${i}`, { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('x') });
      await store.create('long', { contentType: TEXT, ttlMs: HOUR });
      await store.create('forever', { contentType: TEXT });
      clock.advance(1000);
      expect(await store.cleanupExpired()).toBe(3);
      expect(await store.cleanupExpired()).toBe(0);
      expect(await store.head('long')).toBeDefined();
      expect(await store.head('forever')).toBeDefined();
    });

    it('streams expire in real time on the store clock', async () => {
      const { store } = await open('real-time');
      const r = await store.create('rt', { contentType: TEXT, ttlMs: 1000 });
      expect(Math.abs(r.info.createdAt - Date.now())).toBeLessThan(5000);
      await sleep(1400);
      expect(await store.head('rt')).toBeUndefined();
    });
  });
}
