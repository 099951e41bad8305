import { createSubscriptionStore, type SessionStore, type SubscriptionDefinition } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../src/index.js';

// Core's SubscriptionStore keeps each subscription as a document in a SessionStore and changes
// it by compare-and-swap. These tests hold one write of a real MemorySessionStore to place
// another replica's calls exactly between a read and its write, which a race rarely hits.

const off = (n: number) => `0000000000000000_${String(n).padStart(16, '0')}`;

/** `store`, with the next `set` of a key ending in `suffix` held until `release()`, once armed. */
function holding(store: SessionStore) {
  let armed: { suffix: string; reached: () => void; go: Promise<void> } | undefined;
  let release = () => {};
  const proxy = new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key !== 'set') return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: Parameters<SessionStore['set']>) => {
        const hold = armed;
        if (hold !== undefined && args[0].endsWith(hold.suffix)) {
          armed = undefined;
          hold.reached();
          await hold.go;
        }
        return target.set(...args);
      };
    },
  });
  /** Arms the hold; resolves when a write reaches it. */
  function hold(suffix: string): Promise<void> {
    return new Promise((reached) => {
      const go = new Promise<void>((r) => {
        release = r;
      });
      armed = { suffix, reached: () => reached(), go };
    });
  }
  return { sessions: proxy, hold, release: () => release() };
}

const pull: SubscriptionDefinition = { type: 'pull-wake', streams: ['jobs/1'], wakeStream: 'wakes', leaseTtlMs: 30_000 };

describe('SubscriptionStore documents over MemorySessionStore', () => {
  it('a write that read a deleted subscription never lands on a new one of the same id', async () => {
    const memory = new MemorySessionStore({});
    const gate = holding(memory);
    const a = createSubscriptionStore({ sessions: gate.sessions });
    const b = createSubscriptionStore({ sessions: memory });
    await a.put('s', pull);
    await a.noteAppend('jobs/1', off(2));
    const claim = await a.claim('s', 'worker-1');
    if ('refused' in claim) throw new Error(`claim refused: ${claim.refused}`);
    const reached = gate.hold('sub:s');
    const proof = { wakeId: claim.wake.id, generation: claim.wake.generation, token: claim.token };
    const acking = a.ack('s', proof, [{ stream: 'jobs/1', offset: off(1) }], false);
    await reached;
    // Between the ack's read and its write: deleted, created again, as many writes as before.
    expect(await b.delete('s')).toBe(true);
    expect((await b.put('s', { ...pull, description: 'new' })).status).toBe('created');
    await b.noteAppend('jobs/1', off(5));
    expect('wake' in (await b.claim('s', 'worker-2'))).toBe(true);
    gate.release();
    expect(await acking).toHaveProperty('refused');
    const after = await b.get('s');
    expect(after?.description).toBe('new');
    expect(after?.wake?.holder).toBe('worker-2');
    expect(after?.links).toEqual([{ path: 'jobs/1', linkType: 'explicit', ackedOffset: '-1', tailOffset: off(5), hasPending: true }]);
    await memory.close();
  });

  it('a stream removed while an append to it is under way does not come back', async () => {
    const memory = new MemorySessionStore({});
    const gate = holding(memory);
    const a = createSubscriptionStore({ sessions: gate.sessions });
    const b = createSubscriptionStore({ sessions: memory });
    await b.put('s', { type: 'webhook', streams: ['orders/1', 'orders/2'], webhookUrl: 'https://hooks.example/', leaseTtlMs: 30_000 });
    const reached = gate.hold('sub:s');
    // The append read the index (orders/1 a member) and the document; its write waits.
    const appending = a.noteAppend('orders/1', off(3));
    await reached;
    expect(await b.removeStream('s', 'orders/1')).toBe(true);
    gate.release();
    expect(await appending).toEqual([]);
    const after = await b.get('s');
    expect(after?.links.map((l) => l.path)).toEqual(['orders/2']);
    await memory.close();
  });

  it('a stream added by addStreams is reached by every append after it resolved', async () => {
    const memory = new MemorySessionStore({});
    const a = createSubscriptionStore({ sessions: memory });
    const b = createSubscriptionStore({ sessions: memory });
    await a.put('s', { type: 'webhook', streams: ['orders/1'], webhookUrl: 'https://hooks.example/', leaseTtlMs: 30_000 });
    expect(await a.addStreams('s', ['orders/2'])).toBe(true);
    const notices = await b.noteAppend('orders/2', off(3));
    expect(notices.map((n) => n.triggeredBy)).toEqual(['orders/2']);
    const link = (await b.get('s'))?.links.find((l) => l.path === 'orders/2');
    expect(link).toEqual({ path: 'orders/2', linkType: 'explicit', ackedOffset: '-1', tailOffset: off(3), hasPending: true });
    await memory.close();
  });
});
