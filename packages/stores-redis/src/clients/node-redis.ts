import type { Connection, NodeRedisClient, ScriptSource, SubscribeHandlers, Word } from '../connection.js';
import { arg } from '../connection.js';
import { routingKey } from './slot.js';
import { type BATCH, type Handover, WriteBatches } from './write-batches.js';

// The members of node-redis (the `redis` package, v5) the store uses, all public and
// documented; typed here so that the package neither imports nor names the driver.
type Args = readonly Word[];
type Options = { typeMapping: Record<number, unknown> };
type Listener = (...args: never[]) => void;
interface Events {
  on(event: string, listener: Listener): unknown;
}
interface Client extends Events {
  sendCommand(args: Args, options?: Options): Promise<unknown>;
  duplicate(): Client;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  destroy(): void;
  readonly isOpen: boolean;
  readonly isReady: boolean;
}
interface Master {
  readonly client?: { readonly isReady: boolean };
}
interface Cluster extends Events {
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: Args, options?: Options): Promise<unknown>;
  duplicate(overrides?: { minimizeConnections?: boolean }): Cluster;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  destroy(): void;
  readonly masters?: readonly Master[];
  /** The connection subscribed to the cluster's channels (node-redis's "current pub/sub node"). */
  readonly pubSubNode?: { readonly client: Events };
  getMasters?(): readonly Master[];
  nodeClient(node: Master): Promise<Client>;
  readonly isOpen: boolean;
}

/** A node-redis client or cluster: `sendCommand` and `isOpen`, which ioredis has neither of. */
export const isNodeRedis = (client: object): client is NodeRedisClient =>
  typeof (client as Partial<NodeRedisClient>).sendCommand === 'function' &&
  typeof (client as Partial<NodeRedisClient>).duplicate === 'function' &&
  typeof (client as { isOpen?: unknown }).isOpen === 'boolean';

// RESP bulk strings ('$', 36) as Buffers, or as node-redis's default strings; given on every
// command, so a client-wide `typeMapping` of the user's changes nothing here.
const BUFFERS: Options = { typeMapping: { 36: Buffer } };
const STRINGS: Options = { typeMapping: {} };

const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT');

/**
 * node-redis: scripts by `EVALSHA`, and `EVAL` (which loads it again) when the server answers
 * NOSCRIPT; everything by `sendCommand` (a cluster's routes by the first key). The subscriber
 * is a duplicate connected by the store (node-redis resubscribes it after a reconnect).
 * With a `handover` (the store's `coalesceWrites`), commands reach the client at most
 * {@link BATCH} per write (`write-batches.ts`); one still waiting when its call's time is up
 * is not sent. Commands without one never overtake those waiting.
 */
export function nodeRedisConnection(raw: NodeRedisClient): Connection {
  const isCluster = typeof (raw as Partial<Cluster>).nodeClient === 'function';
  const cluster = raw as unknown as Cluster;
  const client = raw as unknown as Client;
  const direct = (key: string | undefined, args: Args, buffers: boolean): Promise<unknown> => {
    const options = buffers ? BUFFERS : STRINGS;
    if (!isCluster) return client.sendCommand(args, options);
    return cluster.sendCommand(key === undefined ? undefined : routingKey(key), false, args, options);
  };
  // One queue per client: the batches are of what this client writes, whichever store sent it.
  const batches = new WriteBatches(isCluster ? 2 : 1, () => raw.isOpen);
  const send = (key: string | undefined, args: Args, buffers: boolean, handover?: Handover): Promise<unknown> =>
    batches.send(() => direct(key, args, buffers), handover);
  const masters = (): readonly Master[] => cluster.masters ?? cluster.getMasters?.() ?? [];
  return {
    driver: 'node-redis',
    isCluster,
    script(s: ScriptSource, keys, args, buffers, handover) {
      // One array, as sent: node-redis encodes it as it is (no transform of its own).
      const words: Word[] = ['EVALSHA', s.sha, String(keys.length)];
      for (const key of keys) words.push(key);
      for (const a of args) words.push(a);
      return send(keys[0], words, buffers, handover).catch((err: unknown) => {
        if (!isNoScript(err)) throw err;
        return send(keys[0], ['EVAL', s.lua, ...words.slice(2)], buffers, handover);
      });
    },
    command(name, key, args, buffers = false, handover) {
      const words: Word[] = [name, key];
      for (const a of args) words.push(arg(a));
      return send(key, words, buffers, handover);
    },
    ping: () => send(undefined, ['PING'], false),
    async times(read) {
      const time = (c: Client) => (c.sendCommand(['TIME'], STRINGS) as Promise<unknown[]>).then(read);
      if (!isCluster) return [await time(client)];
      const nodes = masters();
      if (nodes.length === 0) return [read((await send(undefined, ['TIME'], false)) as unknown[])];
      return Promise.all(nodes.map(async (node) => time(await cluster.nodeClient(node))));
    },
    state() {
      if (!raw.isOpen) return 'end';
      if (!isCluster) return client.isReady ? 'ready' : 'down';
      return masters().every((node) => node.client === undefined || node.client.isReady) ? 'ready' : 'down';
    },
    subscribe(channel: string, on: SubscribeHandlers) {
      // A cluster's duplicate connects to one node for pub/sub only (`minimizeConnections`).
      const sub = isCluster ? cluster.duplicate({ minimizeConnections: true }) : client.duplicate();
      sub.on('error', on.error as Listener);
      const listener = (message: string, from: string) => {
        if (from === channel) on.message(message);
      };
      let subscribed = sub.connect().then(() => sub.subscribe(channel, listener));
      if (!isCluster) sub.on('ready', on.ready as Listener);
      else {
        // A cluster says 'node-ready' once per connection, not after its reconnects: so the
        // pub/sub connection's own 'ready' is heard (every reconnect), and a new pub/sub
        // connection (the old one's node left) counts as a reconnect too.
        const heard = new WeakSet<object>();
        const hear = (): boolean => {
          const conn = (sub as Cluster).pubSubNode?.client;
          if (conn === undefined || heard.has(conn)) return false;
          heard.add(conn);
          conn.on('ready', on.ready as Listener);
          return true;
        };
        sub.on('node-error', on.error as Listener);
        sub.on('node-ready', () => {
          if (hear()) on.ready();
        });
        subscribed = subscribed.then(() => void hear());
      }
      const close = () => {
        try {
          sub.destroy();
        } catch {
          // already closed
        }
      };
      return { subscription: { close }, subscribed };
    },
    afterWrite: () => {},
  };
}
