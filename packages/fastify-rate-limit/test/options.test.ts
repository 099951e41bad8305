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

  it('takes continueExceeding and exponentialBackoff from the plugin and from each route, continueExceeding first', async () => {
    const Store = stowageStore({ store: new MemoryRateLimitStore() });
    const made = (params: object) => (new Store(params) as StowageFastifyStore).onExceed;
    expect([made({}), made({ continueExceeding: true }), made({ exponentialBackoff: true })]).toEqual(['keep', 'restart', 'backoff']);
    expect(made({ continueExceeding: true, exponentialBackoff: true })).toBe('restart');
    const root = new Store({}) as StowageFastifyStore;
    expect(root.child({ routeInfo: {}, exponentialBackoff: true }).onExceed).toBe('backoff');
    for (const option of ['continueExceeding', 'exponentialBackoff']) {
      const app = Fastify();
      await app.register(rateLimit, { store: Store, [option]: true, max: 1, timeWindow: 60_000 });
      app.get('/x', { config: { rateLimit: { [option]: true, max: 1 } } }, async () => 'x');
      await app.ready();
      expect([(await app.inject('/x')).statusCode, (await app.inject('/x')).statusCode]).toEqual([200, 429]);
      await app.close();
    }
  });

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
