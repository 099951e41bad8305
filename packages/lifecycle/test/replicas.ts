import { spawn, type ChildProcess } from 'node:child_process';
import type { SessionStore } from '@stowage/core';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { HoldingProxy } from '@stowage/conformance/faults';
import { freshNamespace, type BackendSpec, type StoreBackend, type StoreSet, warmUpWithRetries } from '@stowage/test-stores';
import { createLifecycleApp } from '../src/app.js';

const REPLICA = new URL('../dist/replica.js', import.meta.url).pathname;

/** Two replicas of the app on one backend namespace, and a connection of the test's own. */
export interface Replicas {
  urls: [string, string];
  /** The backend namespace of their data (another pair started on it shares the data). */
  namespace: string;
  /** The test's own stores on the same namespace (not paused with the replicas). */
  admin: StoreSet;
  /** A session store on the replicas' data, for reading it directly. */
  sessions: SessionStore;
  /**
   * Makes the backend stop answering the replicas for `ms`, and resolves once it does;
   * `over` resolves once their held calls have reached it. Not for memory.
   */
  pause(ms: number): Promise<{ over: Promise<void> }>;
  stop(): Promise<void>;
}

/**
 * Two replicas: on memory, two apps in this process sharing one set of stores (the only way
 * memory stores are shared); on SQLite, PostgreSQL and Redis, two processes of their own
 * (`src/replica.ts`). Redis replicas reach Redis through a `HoldingProxy`, so a pause holds
 * only their connections; PostgreSQL and SQLite are paused by a lock another connection
 * holds, which every process meets. `namespace`: another pair's, to share its data (on Redis
 * through a proxy of their own, which that pair's pause does not hold).
 */
export async function startReplicas(backend: StoreBackend, timeoutMs: number, namespace = freshNamespace()): Promise<Replicas> {
  const admin = await backend.open(namespace);
  const secret = randomBytes(16).toString('hex');
  const spec = backend.spec(namespace);
  if (spec === undefined) return inProcess(admin, timeoutMs, secret, namespace);

  // Create every table before a pause can lock them.
  await Promise.all([
    admin.sessions().get('warm-up'),
    admin.rateLimits().peek('warm-up', { algorithm: 'fixed-window', limit: 1, windowMs: 1000 }),
    admin.idempotency().release('warm-up', 'warm-up', 'warm-up'),
    admin.streams().head('warm-up'),
  ]);
  let replicaSpec: BackendSpec = spec;
  let proxy: HoldingProxy | undefined;
  if (spec.kind === 'redis') {
    proxy = await HoldingProxy.start(Number(new URL(spec.url).port));
    replicaSpec = { kind: 'redis', url: proxy.url(spec.url) };
  }
  const children = await Promise.all(['a', 'b'].map((name) => startChild(replicaSpec, namespace, name, timeoutMs, secret)));
  await Promise.all(children.map((c) => warmUp(c.url)));
  return {
    urls: [children[0]!.url, children[1]!.url],
    namespace,
    admin,
    sessions: admin.sessions(),
    async pause(ms) {
      if (proxy === undefined) return admin.pause(ms);
      proxy.hold();
      const held = proxy;
      return { over: sleep(ms).then(() => held.deliver()) };
    },
    async stop() {
      await Promise.all(children.map((c) => c.stop()));
      await proxy?.close();
      await admin.close();
    },
  };
}

async function inProcess(admin: StoreSet, timeoutMs: number, sessionSecret: string, namespace: string): Promise<Replicas> {
  const stores = { sessions: admin.sessions(), rateLimits: admin.rateLimits(), idempotency: admin.idempotency(), streams: admin.streams() };
  const servers = await Promise.all(
    ['a', 'b'].map(async (replica) => {
      const app = await createLifecycleApp({ stores, replica, timeoutMs, sessionSecret });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      return server;
    }),
  );
  const [a, b] = servers.map((s) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`);
  return {
    urls: [a!, b!],
    namespace,
    admin,
    sessions: stores.sessions,
    pause: () => Promise.reject(new Error('memory has no backend to pause')),
    async stop() {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
      await admin.close();
    },
  };
}

/**
 * One call of every store through a replica, so that later calls in a test find its stores
 * migrated, prepared and connected: a first call would otherwise spend its limit on that.
 * A first call that spent it (503, or 500 from express-rate-limit and the app's own reads) is
 * the deadline at work on a loaded machine: it is tried again, a few times, with fresh keys.
 */
const warmUp = (url: string): Promise<void> =>
  warmUpWithRetries(
    () => warmUpOnce(url),
    (error) => error instanceof WarmUpUnavailable,
    { attempts: 8 },
  );

class WarmUpUnavailable extends Error {}

async function warmUpOnce(url: string): Promise<void> {
  const key = `warm-up-${Math.random()}`;
  const answers = await Promise.all([
    fetch(`${url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: '{}' }),
    fetch(`${url}/ping`, { headers: { 'x-client': key } }),
    fetch(`${url}/counts?client=${key}`),
    fetch(`${url}/s/login`, { method: 'POST' }),
    fetch(`${url}/effects?key=${key}`),
  ]);
  for (const res of answers) {
    if (res.status >= 300) {
      const message = `warm-up of ${url} got ${res.status} from ${res.url}`;
      throw res.status >= 500 ? new WarmUpUnavailable(message) : new Error(message);
    }
  }
}

async function startChild(spec: BackendSpec, namespace: string, replica: string, timeoutMs: number, secret: string) {
  const child: ChildProcess = spawn(process.execPath, [REPLICA], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      LIFECYCLE_SPEC: JSON.stringify(spec),
      LIFECYCLE_NAMESPACE: namespace,
      LIFECYCLE_REPLICA: replica,
      LIFECYCLE_TIMEOUT_MS: String(timeoutMs),
      LIFECYCLE_SECRET: secret,
    },
  });
  const output: string[] = [];
  child.stderr!.on('data', (c: Buffer) => output.push(c.toString('utf8')));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const m = /listening (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`replica ${replica} exited with ${code}: ${output.join('')}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
