import type { ErrorSource } from '@stowage/core/adapter-kit';
import { ioredisConnection, isIoredis } from './clients/ioredis.js';
import { isNodeRedis, nodeRedisConnection } from './clients/node-redis.js';
import type { Handover } from './clients/write-batches.js';

/**
 * The clients a store takes, by the members it checks (structural, so the package's types
 * name neither driver: a project with only one of them installed compiles):
 *
 * - an ioredis `Redis` or `Cluster` (`new Redis(url)`, `new Cluster(nodes)`);
 * - a node-redis client or cluster (`createClient({ url })`, `createCluster({ rootNodes })`
 *   of the `redis` package, v5), connected (`await client.connect()`).
 */
export type RedisClient = IoredisClient | NodeRedisClient;

/** An ioredis `Redis` or `Cluster`, as the store tells it apart. */
export interface IoredisClient {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  duplicate(...args: never[]): unknown;
  readonly status: string;
}

/** A node-redis client (`createClient()`) or cluster (`createCluster()`), as the store tells it apart. */
export interface NodeRedisClient {
  sendCommand(...args: never[]): Promise<unknown>;
  duplicate(...args: never[]): unknown;
  readonly isOpen: boolean;
}

/** What a script needs to run: its body and the SHA-1 of it (`EVALSHA`), and the name to register it under. */
export interface ScriptSource {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

/** A stream store's pub/sub subscriber: a connection of its own, closed with the store. */
export interface Subscription {
  close(): void;
}

export interface SubscribeHandlers {
  /** A message on the channel. */
  message(message: string): void;
  /** The subscriber connected again: it may have missed messages meanwhile. */
  ready(): void;
  /** A failure of the subscriber's connection (it reconnects by itself). */
  error(err: unknown): void;
}

/**
 * What the stores ask of a client, the same on both drivers: scripts (`EVALSHA`, then `EVAL`
 * when the server lost the script), plain commands on one key, `PING`, `TIME` of every
 * master, a subscriber, and the connection's state.
 */
export interface Connection {
  readonly driver: 'ioredis' | 'node-redis';
  readonly isCluster: boolean;
  /**
   * Runs `s` on `keys` with `args` as sent (see {@link arg}; the first key routes it on a
   * Cluster); bulk strings as `Buffer`s with `buffers`. With a `handover` (node-redis with
   * `coalesceWrites`), it goes in a batch of at most 32 per write, and not at all if its call's
   * time is up while it waits (`write-batches.ts`); ioredis takes none (see {@link afterWrite}).
   */
  script(s: ScriptSource, keys: readonly string[], args: readonly Word[], buffers: boolean, handover?: Handover): Promise<unknown>;
  /** A plain command whose first argument is its key, e.g. `command('SADD', key, [member])`; `handover` as for `script`. */
  command(name: string, key: string, args: readonly unknown[], buffers?: boolean, handover?: Handover): Promise<unknown>;
  ping(): Promise<unknown>;
  /**
   * `TIME` of the server, or of every master of a Cluster (of one, if no master is known yet),
   * each answer passed through `read` as it arrives (so `read` may read our clock on receipt).
   */
  times<T>(read: (time: unknown[]) => T): Promise<T[]>;
  /**
   * `ready`: commands go out now; `connecting`: connected, not ready yet; `down`: not
   * connected, reconnecting; `end`: closed for good (or never connected).
   */
  state(): 'ready' | 'connecting' | 'down' | 'end';
  /** Subscribes a new connection (a duplicate of the client) to `channel`. */
  subscribe(channel: string, on: SubscribeHandlers): { subscription: Subscription; subscribed: Promise<void> };
  /**
   * Called after a call's command was issued, with `coalesceWrites`: ioredis's sockets are
   * corked to the end of the tick (`coalesce.ts`); nothing on node-redis, which writes the
   * commands of an iteration together by itself (its batches are made as commands are sent).
   */
  afterWrite(): void;
}

/** One connection per client: stores on one client share its scripts' registration. */
const connections = new WeakMap<object, Connection>();

/** The {@link Connection} of a client, told apart by its shape; `INVALID_ARGUMENT` when it is neither driver's. */
export function connectionOf(source: ErrorSource, client: unknown): Connection {
  if (client === null || typeof client !== 'object') throw notAClient(source);
  const key = client as object;
  let connection = connections.get(key);
  if (connection === undefined) {
    if (isIoredis(client)) connection = ioredisConnection(client);
    else if (isNodeRedis(client)) connection = nodeRedisConnection(client);
    else throw notAClient(source);
    connections.set(key, connection);
  }
  return connection;
}

const notAClient = (source: ErrorSource) =>
  source.invalid(
    'options.client must be an ioredis Redis or Cluster, or a node-redis client (createClient) or cluster (createCluster) of the redis package',
  );

/** An argument of a command as both drivers send it: text, or bytes as they are. */
export type Word = string | Buffer;

/** Arguments as both drivers send them: a `Buffer` as it is, anything else as its decimal or text form. */
export const arg = (v: unknown): Word =>
  typeof v === 'string' ? v : Buffer.isBuffer(v) ? v : v instanceof Uint8Array ? Buffer.from(v) : String(v);
