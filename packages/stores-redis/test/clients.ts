import { Cluster, Redis } from 'ioredis';
import { createClient, createCluster } from 'redis';
import { afterAll, beforeAll } from 'vitest';
import type { RedisClient } from '../src/index.js';
import { type LocalCluster, startCluster } from './helpers.js';

/**
 * The store's client in the tests, on either driver: the fault and race tests run once per
 * driver (`describe.each(DRIVERS)`) with one body, the settings below in neither driver's
 * terms. Admin connections (stats, pauses, `SCRIPT FLUSH`) stay ioredis: they test nothing.
 */
export type Driver = 'ioredis' | 'node-redis';
export const DRIVERS: readonly Driver[] = ['ioredis', 'node-redis'];

export interface ConnectOptions {
  username?: string;
  password?: string;
  /** Reconnect every this many ms, for ever (node-redis's default, ioredis's too with `maxRetriesPerRequest: null`). */
  retryEveryMs?: number;
  /**
   * ioredis: fail a queued command after one reconnect attempt (`maxRetriesPerRequest: 1`).
   * node-redis has no such limit: its commands wait in the offline queue until the store's time limit.
   */
  failFast?: boolean;
  /** Never connected: every command fails at once (ioredis: `lazyConnect` without its offline queue). */
  unconnected?: boolean;
}

export interface TestClient {
  driver: Driver;
  client: RedisClient;
  /** Connected and ready for commands. */
  ready(): boolean;
  /** Resolves once the client is first ready (never rejects). */
  connected: Promise<void>;
  /** An `unconnected` client: connects it, resolving once it is ready. */
  open(): Promise<void>;
  /** Disconnects at once. */
  close(): void;
  /**
   * `PING` on each of the client's own connections to the masters (one on a server): resolves
   * once each has answered what the client sent it before.
   */
  drained(): Promise<unknown>;
}

const quiet = () => {};

/** A client of `driver` to one server on loopback (or to `url`); errors are the tests' to see through the stores. */
export function connect(driver: Driver, target: number | string, o: ConnectOptions = {}): TestClient {
  if (driver === 'ioredis') {
    const client = new Redis({
      ...(typeof target === 'number' ? { host: '127.0.0.1', port: target } : urlOptions(target)),
      username: o.username,
      password: o.password,
      lazyConnect: o.unconnected === true,
      enableOfflineQueue: o.unconnected !== true,
      maxRetriesPerRequest: o.failFast ? 1 : o.retryEveryMs !== undefined ? null : 20,
      ...(o.retryEveryMs === undefined ? {} : { retryStrategy: () => o.retryEveryMs }),
    });
    client.on('error', quiet);
    return {
      driver,
      client,
      ready: () => client.status === 'ready',
      connected: o.unconnected ? Promise.resolve() : ready(client),
      // A lazy client connects on its first command: wait for that, or start it.
      open: () => (client.status === 'wait' ? client.connect() : ready(client)),
      close: () => client.disconnect(),
      drained: () => client.ping(),
    };
  }
  const client = createClient({
    ...(typeof target === 'number' ? { socket: { host: '127.0.0.1', port: target } } : { url: target }),
    username: o.username,
    password: o.password,
    ...(o.retryEveryMs === undefined ? {} : { socket: { ...socketOf(target), reconnectStrategy: () => o.retryEveryMs! } }),
  });
  client.on('error', quiet);
  const connected = o.unconnected ? Promise.resolve() : client.connect().then(quiet, quiet);
  return {
    driver,
    client,
    ready: () => client.isReady,
    connected,
    open: async () => {
      await client.connect();
    },
    close: () => {
      if (client.isOpen) client.destroy();
    },
    drained: () => client.ping(),
  };
}

/** A client of `driver` to the Cluster of these loopback ports. */
export function connectCluster(driver: Driver, ports: readonly number[]): TestClient {
  if (driver === 'ioredis') {
    const client = new Cluster(
      ports.map((port) => ({ host: '127.0.0.1', port })),
      { redisOptions: { maxRetriesPerRequest: 2 } },
    );
    client.on('error', quiet);
    return {
      driver,
      client,
      ready: () => client.status === 'ready',
      connected: client.ping().then(quiet, quiet),
      open: () => client.connect(),
      close: () => client.disconnect(),
      drained: () => Promise.all(client.nodes('master').map((n) => n.ping())),
    };
  }
  const client = createCluster({ rootNodes: ports.map((port) => ({ socket: { host: '127.0.0.1', port } })) });
  client.on('error', quiet);
  return {
    driver,
    client,
    ready: () => client.isOpen,
    connected: client.connect().then(quiet, quiet),
    open: async () => {
      await client.connect();
    },
    close: () => {
      if (client.isOpen) client.destroy();
    },
    drained: () => Promise.all(client.masters.map(async (m) => (await client.nodeClient(m)).ping())),
  };
}

function ready(client: Redis): Promise<void> {
  return client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', () => resolve()));
}

function urlOptions(url: string): { host: string; port: number; username?: string; password?: string } {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

function socketOf(target: number | string): { host: string; port: number } {
  if (typeof target === 'number') return { host: '127.0.0.1', port: target };
  const { host, port } = urlOptions(target);
  return { host, port };
}

/** What {@link useLoopbackCluster} holds for the tests of its `describe`, set before they run. */
export interface LoopbackCluster {
  readonly cluster: LocalCluster;
  /** The store's client, on the driver under test. */
  readonly store: TestClient;
  /** An ioredis admin connection (stats, keys per master): it tests nothing. */
  readonly admin: Cluster;
}

/** A 3-master Cluster on loopback for the enclosing `describe`, started before its tests and stopped after. */
export function useLoopbackCluster(driver: Driver): LoopbackCluster {
  const held = {} as { -readonly [K in keyof LoopbackCluster]: LoopbackCluster[K] };
  beforeAll(async () => {
    held.cluster = await startCluster();
    held.store = connectCluster(driver, held.cluster.ports);
    held.admin = new Cluster(held.cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
    await held.store.connected;
    await held.admin.ping();
  });
  afterAll(async () => {
    held.store?.close();
    await held.admin?.quit();
    held.cluster?.stop();
  });
  return held;
}
