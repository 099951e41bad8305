import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { newNamespace } from '@stowage/conformance';
import { describe, expect, it } from 'vitest';
import { RedisStreamStore } from '../src/index.js';
import { connect, DRIVERS } from './clients.js';

// A stream store listens for its client becoming known down (to end its pending waits). The
// client outlives its stores: that listener must not keep a store its user dropped unclosed.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const target = Number(new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').port || 6379);

describe.each(DRIVERS)('%s', (driver) => {
  it('stream stores dropped without close() are collected while their client lives on', async () => {
    const c = connect(driver, target);
    await c.connected;
    try {
      const refs: WeakRef<RedisStreamStore>[] = [];
      for (let i = 0; i < 50; i++) {
        const store = new RedisStreamStore({ client: c.client, prefix: newNamespace() });
        await store.head('s');
        refs.push(new WeakRef(store));
      }
      // No deref before the collections: a target deref'd stays alive to the end of that job.
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 20));
        gc();
      }
      // The client's shared state may keep a store or two (here the first and the last, as
      // before the listener existed); with the listener holding each store, all 50 stayed.
      expect(refs.filter((r) => r.deref() !== undefined).length).toBeLessThanOrEqual(2);
    } finally {
      c.close();
    }
  });
});
