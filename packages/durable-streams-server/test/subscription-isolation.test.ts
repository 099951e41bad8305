import { MemorySessionStore, MemoryStreamStore } from '@stowage/stores-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { eventuallyValue, getJson, putJson, type SubscriptionServer, startSubscriptionServer } from './subscription-server.js';

// One subscription that cannot be updated must not cost the others their wakes, and names a
// client chooses (`__proto__`, `toString`, `constructor`) are names like any other. These run
// on memory: the subscription store is core's, the same over every backend's session store;
// its session store is given an 8 KiB record limit, so one subscription's document fills up.

const servers: SubscriptionServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

let sessions: MemorySessionStore;

async function serve(maxDataBytes = 1024 * 1024): Promise<SubscriptionServer> {
  const store = new MemoryStreamStore();
  sessions = new MemorySessionStore({ maxDataBytes });
  const s = await startSubscriptionServer({
    store,
    sessions,
    close: async () => {
      await store.close();
      await sessions.close();
    },
  });
  servers.push(s);
  return s;
}

const putText = (body: string): RequestInit => ({ method: 'PUT', headers: { 'content-type': 'text/plain' }, body });
const wakeStream = (s: SubscriptionServer, name: string) =>
  fetch(s.url(name), { method: 'PUT', headers: { 'content-type': 'application/json' } }).then((r) => r.status);

describe('subscriptions: one failing subscription', () => {
  it("another subscription of the stream still gets its wake event when one's document is full", async () => {
    const s = await serve(8 * 1024);
    expect([await wakeStream(s, 'wakes-full'), await wakeStream(s, 'wakes-v')]).toEqual([201, 201]);
    expect(
      (await fetch(s.url('__ds/subscriptions/full'), putJson({ type: 'pull-wake', pattern: 't/**', wake_stream: 'wakes-full' }))).status,
    ).toBe(201);
    // Its document links every stream it matches: long names fill its 8 KiB.
    let i = 0;
    while (!s.logs.some((l) => l.includes('noteAppend'))) {
      expect((await fetch(s.url(`t/b${i++}/${'y'.repeat(400)}`), putText('x'))).status).toBe(201);
      expect(i).toBeLessThan(100);
    }
    const victim = `t/victim/${'z'.repeat(400)}`;
    expect(
      (await fetch(s.url('__ds/subscriptions/v'), putJson({ type: 'pull-wake', streams: [victim], wake_stream: 'wakes-v' }))).status,
    ).toBe(201);
    const failures = s.logs.length;
    expect((await fetch(s.url(victim), putText('job'))).status).toBe(201);
    expect(s.logs.slice(failures).some((l) => / noteAppend|noteAppend\(/.test(l) && l.includes('details.started'))).toBe(true);
    const events = await eventuallyValue(
      () => getJson(s.url('wakes-v?offset=-1')),
      (e: unknown[]) => e.length === 1,
      5000,
    );
    expect(events[0]).toMatchObject({ type: 'wake', subscription_id: 'v', stream: victim });
  });
});

describe('subscriptions: a PUT refused as too large', () => {
  it('leaves no entry in the index of subscriptions behind it', async () => {
    const s = await serve(8 * 1024);
    expect(await wakeStream(s, 'wakes')).toBe(201);
    const indexIds = async () => {
      const record = await sessions.get('ds-subscriptions:index');
      return record === undefined ? [] : Object.keys(JSON.parse(Buffer.from(record.data).toString('utf8')).subs);
    };
    expect(
      (await fetch(s.url('__ds/subscriptions/small'), putJson({ type: 'pull-wake', streams: ['a'], wake_stream: 'wakes' }))).status,
    ).toBe(201);
    // Its index entry fits (5 KiB), its document (the definition and a link per stream) does not.
    const streams = Array.from({ length: 12 }, (_, i) => `big/${i}/${'q'.repeat(400)}`);
    const big = await fetch(s.url('__ds/subscriptions/big'), putJson({ type: 'pull-wake', streams, wake_stream: 'wakes' }));
    expect(big.status).toBe(413);
    expect(await indexIds()).toEqual(['small']);
    expect((await fetch(s.url('__ds/subscriptions/big'))).status).toBe(404);
  });
});

describe('subscriptions: names that are properties of every object', () => {
  const NAMES = ['__proto__', 'toString', 'constructor', 'valueOf', 'hasOwnProperty'];

  it('as stream names and as subscription ids: linked, woken, answered, and Object.prototype untouched', async () => {
    const s = await serve();
    expect(await wakeStream(s, 'wakes')).toBe(201);
    for (const id of NAMES) {
      const put = await fetch(
        s.url(`__ds/subscriptions/${id}`),
        putJson({ type: 'pull-wake', streams: [`x/${id}`, id], wake_stream: 'wakes' }),
      );
      expect(put.status, id).toBe(201);
    }
    expect((await fetch(s.url('__ds/subscriptions/glob'), putJson({ type: 'pull-wake', pattern: '*', wake_stream: 'wakes' }))).status).toBe(
      201,
    );
    for (const name of NAMES) expect((await fetch(s.url(name), putText('job'))).status, name).toBe(201);
    const events = await eventuallyValue(
      () => getJson(s.url('wakes?offset=-1')),
      (e: unknown[]) => e.length === NAMES.length + 1,
      5000,
    );
    expect(new Set(events.map((e: { subscription_id: string }) => e.subscription_id))).toEqual(new Set([...NAMES, 'glob']));
    for (const id of NAMES) {
      const sub = await getJson(s.url(`__ds/subscriptions/${id}`));
      expect(sub.streams.map((l: { path: string }) => l.path).sort(), id).toEqual([id, `x/${id}`].sort());
    }
    expect(s.logs.filter((l) => / 5\d\d /.test(l) || l.includes('noteAppend'))).toEqual([]);
    const plain = {} as Record<string, unknown>;
    expect([plain.explicit, plain.glob, plain.tail, plain.streams]).toEqual([undefined, undefined, undefined, undefined]);
  });
});
