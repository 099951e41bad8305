import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeBackends, imagesForAppSuites, postgresBackends, redisBackends } from '@stowage/conformance/backends';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess } from './cli-process.js';
import { randomSuffix } from './helpers.js';
import { Receiver } from './scripted-receiver.js';

/**
 * Subscriptions across two server processes on one store: each wake is announced by one
 * replica (never once per replica), a failed delivery is retried with backoff by one, and a
 * pull-wake claim taken through one replica is refused through the other.
 */
// One key ring for every run: the signing key stored by an earlier run on the same database
// must still open (a server whose ring lacks it cannot sign; see the README).
const SIGNING_KEY = Buffer.alloc(32, 7).toString('base64');

async function twoReplicas(store: string): Promise<{ a: string; b: string; stop: () => Promise<void> }> {
  const args = ['--store', store, '--quiet', '--webhooks', '--allow-webhook-host', '127.0.0.1'];
  const env = { STOWAGE_SIGNING_KEY: SIGNING_KEY };
  const pa = new CliProcess(args, env);
  const pb = new CliProcess(args, env);
  const [a, b] = await Promise.all([pa.url, pb.url]);
  return { a, b, stop: async () => void (await Promise.all([pa.stop(), pb.stop()])) };
}

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const put = (body: unknown) => ({ ...json(body), method: 'PUT' });

function subscriptionTests(store: () => string): void {
  it('an append through either replica is announced once; a burst through both, each wake once', async () => {
    const { a, b, stop } = await twoReplicas(store());
    const receiver = await Receiver.start([{ status: 200, body: { done: true } }]);
    const prefix = `rep-${randomSuffix()}`;
    try {
      const created = await fetch(
        `${a}/__ds/subscriptions/${prefix}`,
        put({ type: 'webhook', pattern: `${prefix}/*`, webhook: { url: receiver.url }, lease_ttl_ms: 5000 }),
      );
      expect(created.status).toBe(201);
      const one = await fetch(`${b}/${prefix}/first`, { ...put(undefined), body: '{"n":0}' });
      expect(one.status).toBe(201);
      await receiver.until(() => receiver.deliveries.length >= 1);
      // Both replicas poll for due work every second: give them three chances to double it.
      await sleep(3000);
      expect(receiver.deliveries.length).toBe(1);

      // 40 appends over 4 streams, alternating replicas, all at once.
      const tails = new Map<string, string>();
      await Promise.all(Array.from({ length: 4 }, (_, s) => fetch(`${a}/${prefix}/s${s}`, { ...put(undefined), body: '[]' })));
      await Promise.all(
        Array.from({ length: 40 }, async (_, k) => {
          const res = await fetch(`${k % 2 === 0 ? a : b}/${prefix}/s${k % 4}`, { ...json({ k }) });
          expect(res.status).toBe(204);
          const tail = res.headers.get('stream-next-offset')!;
          const path = `${prefix}/s${k % 4}`;
          if ((tails.get(path) ?? '') < tail) tails.set(path, tail);
        }),
      );
      // Every stream ends acked at its tail (each `done` acks its wake's snapshot).
      const end = Date.now() + 15_000;
      for (;;) {
        const sub = (await (await fetch(`${a}/__ds/subscriptions/${prefix}`)).json()) as {
          streams: { path: string; acked_offset: string }[];
        };
        const acked = new Map(sub.streams.map((s) => [s.path, s.acked_offset]));
        if ([...tails].every(([path, tail]) => acked.get(path) === tail)) break;
        if (Date.now() > end) throw new Error(`not every stream acked at its tail: ${JSON.stringify(sub.streams)}`);
        await sleep(50);
      }
      const wakes = receiver.deliveries.map((d) => d.body.wake_id);
      const generations = receiver.deliveries.map((d) => d.body.generation);
      expect(new Set(wakes).size, `deliveries: ${JSON.stringify(generations)}`).toBe(wakes.length);
      expect(generations).toEqual([...generations].sort((x, y) => x - y));
      expect(new Set(generations).size).toBe(generations.length);
      expect(wakes.length).toBeLessThanOrEqual(41);
      console.log(`${wakes.length} wakes for 41 appends through two replicas`);
    } finally {
      await fetch(`${a}/__ds/subscriptions/${prefix}`, { method: 'DELETE' });
      await receiver.close();
      await stop();
    }
  }, 60_000);

  it('a failing receiver gets the same wake again with growing delays, from one replica at a time', async () => {
    const { a, b, stop } = await twoReplicas(store());
    const receiver = await Receiver.start([{ status: 500 }, { status: 500 }, { status: 200, body: { done: true } }]);
    const prefix = `retry-${randomSuffix()}`;
    try {
      const created = await fetch(
        `${b}/__ds/subscriptions/${prefix}`,
        put({ type: 'webhook', pattern: `${prefix}/*`, webhook: { url: receiver.url } }),
      );
      expect(created.status).toBe(201);
      expect((await fetch(`${a}/${prefix}/x`, { ...put(undefined), body: '{"n":1}' })).status).toBe(201);
      await receiver.until(() => receiver.deliveries.length >= 3, 15_000);
      const got = receiver.deliveries;
      await sleep(2500);
      expect(receiver.deliveries.length).toBe(3);
      expect(new Set(got.map((d) => d.body.wake_id)).size).toBe(1);
      expect(new Set(got.map((d) => d.body.generation)).size).toBe(1);
      // Backoff: about 1 s, then about 2 s (+-20% jitter, plus up to one poll interval).
      const gaps = [got[1]!.at - got[0]!.at, got[2]!.at - got[1]!.at];
      expect(gaps[0]).toBeGreaterThanOrEqual(750);
      expect(gaps[1]).toBeGreaterThan(gaps[0]!);
      const sub = (await (await fetch(`${a}/__ds/subscriptions/${prefix}`)).json()) as {
        status: string;
        streams: { acked_offset: string }[];
      };
      expect(sub.status).toBe('active');
      expect(sub.streams[0]!.acked_offset).toBe(got[2]!.body.streams[0]!.tail_offset);
    } finally {
      await fetch(`${a}/__ds/subscriptions/${prefix}`, { method: 'DELETE' });
      await receiver.close();
      await stop();
    }
  }, 60_000);

  it('a pull-wake claim through one replica is refused through the other until released or expired', async () => {
    const { a, b, stop } = await twoReplicas(store());
    const id = `pull-${randomSuffix()}`;
    try {
      expect((await fetch(`${a}/${id}-wake`, { ...put(undefined), body: '[]' })).status).toBe(201);
      const created = await fetch(
        `${a}/__ds/subscriptions/${id}`,
        put({ type: 'pull-wake', pattern: `${id}/*`, wake_stream: `${id}-wake`, lease_ttl_ms: 1000 }),
      );
      expect(created.status).toBe(201);
      expect((await fetch(`${b}/${id}/job`, { ...put(undefined), body: '{"job":1}' })).status).toBe(201);

      const claim = async (base: string, worker: string) => {
        const res = await fetch(`${base}/__ds/subscriptions/${id}/claim`, json({ worker }));
        return {
          status: res.status,
          body: (await res.json()) as Record<string, unknown> & { error?: { code: string; current_holder?: string } },
        };
      };
      const first = await claim(a, 'worker-a');
      expect(first.status).toBe(200);
      const busy = await claim(b, 'worker-b');
      expect(busy.status).toBe(409);
      expect(busy.body.error).toMatchObject({ code: 'ALREADY_CLAIMED', current_holder: 'worker-a' });

      const released = await fetch(`${b}/__ds/subscriptions/${id}/release`, {
        ...json({ wake_id: first.body.wake_id, generation: first.body.generation }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${first.body.token}` },
      });
      expect(released.status).toBe(204);
      const second = await claim(b, 'worker-b');
      expect(second.status).toBe(200);
      expect(second.body.generation).toBe((first.body.generation as number) + 1);

      // worker-b goes silent: its lease (1 s) runs out and worker-a gets the next wake.
      expect((await claim(a, 'worker-a')).status).toBe(409);
      await sleep(1200);
      const third = await claim(a, 'worker-a');
      expect(third.status).toBe(200);
      expect(third.body.generation as number).toBeGreaterThan(second.body.generation as number);
      const stale = await fetch(`${a}/__ds/subscriptions/${id}/ack`, {
        ...json({ wake_id: second.body.wake_id, generation: second.body.generation, acks: [], done: true }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${second.body.token}` },
      });
      expect(stale.status).toBe(409);
      expect(((await stale.json()) as { error: { code: string } }).error.code).toBe('FENCED');
    } finally {
      await fetch(`${a}/__ds/subscriptions/${id}`, { method: 'DELETE' });
      await stop();
    }
  }, 60_000);
}

describeBackends(await postgresBackends(imagesForAppSuites('postgres')), (backend) => subscriptionTests(() => backend.url));
describeBackends(await redisBackends(imagesForAppSuites('redis')), (backend) => subscriptionTests(() => backend.url));

describe('two replicas on one SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-sub-replicas-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  subscriptionTests(() => `sqlite:${join(dir, 'streams.db')}`);
});
