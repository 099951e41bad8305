import { fork } from 'node:child_process';
import { join } from 'node:path';
import { newNamespace } from '@stowage/conformance';
import { redisBackends } from '@stowage/conformance/backends';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisCsrfTokenStore } from '../src/index.js';
import { connect, connectCluster, DRIVERS, type Driver, type TestClient } from './clients.js';
import { startCluster, type LocalCluster } from './helpers.js';

const worker = join(import.meta.dirname, 'fixtures/worker.mjs');
const backends = await redisBackends();

async function race<T>(driver: Driver, count: number, target: string, prefix: string, task: string, extra = ''): Promise<T[]> {
  const children = Array.from({ length: count }, () =>
    fork(worker, [target, prefix, task, extra, driver], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  await Promise.all(children.map((c) => new Promise<void>((resolve) => c.once('message', () => resolve()))));
  const results = children.map(
    (c) =>
      new Promise<T>((resolve, reject) => {
        c.on('message', (m: { result?: T }) => m.result !== undefined && resolve(m.result));
        c.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
      }),
  );
  for (const c of children) c.send('go');
  return Promise.all(results);
}

function proofs(name: string, target: () => string, client: (driver: Driver) => Promise<TestClient>) {
  describe.each(DRIVERS)(`${name} (%s)`, (driver) => {
    it('4 processes: 1,000 consume calls against a limit of 100 admit exactly 100', async () => {
      const results = await race<{ allowed: number; errors: string[] }>(driver, 4, target(), newNamespace(), 'consume');
      expect(results.flatMap((r) => r.errors)).toEqual([]);
      expect(results.reduce((s, r) => s + r.allowed, 0)).toBe(100);
    }, 60_000);

    it('4 processes: 200 reserve calls on one key give exactly one reserved', async () => {
      const results = await race<{ reserved: number; inFlight: number; errors: string[] }>(driver, 4, target(), newNamespace(), 'reserve');
      expect(results.flatMap((r) => r.errors)).toEqual([]);
      expect(results.reduce((s, r) => s + r.reserved, 0)).toBe(1);
      expect(results.reduce((s, r) => s + r.inFlight, 0)).toBe(199);
    }, 60_000);

    it('4 processes: a single-use CSRF token validates once', async () => {
      const prefix = newNamespace();
      const store = new RedisCsrfTokenStore({ client: (await client(driver)).client, prefix });
      const token = await store.issue('session-1', { ttlMs: 60_000 });
      const results = await race<{ valid: number; errors: string[] }>(driver, 4, target(), prefix, 'csrf', token);
      expect(results.flatMap((r) => r.errors)).toEqual([]);
      expect(results.reduce((s, r) => s + r.valid, 0)).toBe(1);
    }, 60_000);
  });
}

const first = backends[0]!;
/** The test's own clients, one per driver and topology, made on first use. */
const clients = new Map<string, TestClient>();
async function clientOf(key: string, make: () => TestClient): Promise<TestClient> {
  let c = clients.get(key);
  if (c === undefined) {
    c = make();
    clients.set(key, c);
  }
  await c.connected;
  return c;
}
proofs(
  `standalone (${first.name})`,
  () => first.url!,
  (driver) => clientOf(`standalone ${driver}`, () => connect(driver, first.url!)),
);

let cluster: LocalCluster;
beforeAll(async () => {
  cluster = await startCluster();
});
afterAll(async () => {
  for (const c of clients.values()) c.close();
  cluster?.stop();
  await Promise.all(backends.map((b) => b.stop()));
});
proofs(
  'Redis Cluster (3 masters)',
  () => `cluster:${cluster.ports.join(',')}`,
  (driver) => clientOf(`cluster ${driver}`, () => connectCluster(driver, cluster.ports)),
);
