import rateLimit from '@fastify/rate-limit';
import { MemoryRateLimitStore } from '@stowage/stores-memory';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { StowageFastifyStore, stowageStore } from '../src/index.js';

const invalid = (pattern: RegExp) => expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(pattern) });

describe('stowageStore', () => {
  it('validates its options with StowageError', () => {
    const store = new MemoryRateLimitStore();
    expect(() => stowageStore({} as never)).toThrow(invalid(/store/));
    expect(() => stowageStore({ store, prefix: '' })).toThrow(invalid(/prefix/));
    for (const timeoutMs of [0, 1.5, '1000', -1]) expect(() => stowageStore({ store, timeoutMs } as never)).toThrow(invalid(/timeoutMs/));
    const Store = stowageStore({ store });
    const made = new Store({});
    expect(made).toBeInstanceOf(StowageFastifyStore);
    expect([(made as StowageFastifyStore).keySpace, (made as StowageFastifyStore).timeoutMs]).toEqual(['frl:g:', 1000]);
  });

  it('names child stores after their route, and limiters without a route by the order they were made', () => {
    const root = new (stowageStore({ store: new MemoryRateLimitStore(), prefix: 'p:' }))({}) as StowageFastifyStore;
    expect(root.child({ routeInfo: { method: 'GET', url: '/a' } }).keySpace).toBe('p:r:["GET","/a"]');
    expect(root.child({ routeInfo: { method: ['GET', 'HEAD'], url: '/a:b' } }).keySpace).toBe('p:r:[["GET","HEAD"],"/a:b"]');
    expect([root.child({ routeInfo: {} }).keySpace, root.child({ routeInfo: {} }).keySpace]).toEqual(['p:l1:', 'p:l2:']);
  });

  for (const option of ['continueExceeding', 'exponentialBackoff']) {
    it(`refuses ${option} when the plugin is registered, and on a route`, async () => {
      const store = stowageStore({ store: new MemoryRateLimitStore() });
      const app = Fastify();
      await expect(app.register(rateLimit, { store, [option]: true })).rejects.toThrow(invalid(new RegExp(option)));
      await app.close();
      const routed = Fastify();
      await routed.register(rateLimit, { store });
      expect(() => routed.get('/x', { config: { rateLimit: { [option]: true } } }, async () => 'x')).toThrow(invalid(new RegExp(option)));
      await routed.close();
    });
  }

  it('a timeWindow that is not an integer of 1 ms to ten years is reported through the callback (500, or let through)', async () => {
    for (const skipOnError of [false, true]) {
      const app = Fastify();
      await app.register(rateLimit, { store: stowageStore({ store: new MemoryRateLimitStore() }), timeWindow: () => 1.5, skipOnError });
      app.get('/x', async () => 'x');
      expect((await app.inject('/x')).statusCode).toBe(skipOnError ? 200 : 500);
      await app.close();
    }
  });
});
