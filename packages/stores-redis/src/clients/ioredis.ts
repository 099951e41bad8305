import type { Cluster, Redis } from 'ioredis';
import { coalesceWrites } from '../coalesce.js';
import type { Connection, IoredisClient, ScriptSource, SubscribeHandlers, Word } from '../connection.js';

// Type-only: the emitted code imports nothing of ioredis, and the package's types do not name it.
type Client = Redis | Cluster;
type Callable = (...args: unknown[]) => Promise<unknown>;

/** An ioredis `Redis` or `Cluster`: `defineCommand` and `status`, which node-redis has neither of. */
export const isIoredis = (client: object): client is IoredisClient =>
  typeof (client as Partial<IoredisClient>).defineCommand === 'function' && typeof (client as { status?: unknown }).status === 'string';

/**
 * ioredis: each script is a command of the client (`defineCommand`: EVALSHA, and EVAL when the
 * server answers NOSCRIPT), plain commands are its methods, the subscriber is a duplicate with
 * `autoResubscribe` forced on.
 */
export function ioredisConnection(raw: IoredisClient): Connection {
  const client = raw as unknown as Client;
  const methods = client as unknown as Record<string, Callable>;
  const isCluster = (client as { isCluster?: boolean }).isCluster === true;
  /** The script commands defined so far, by name (`…Buffer`: the variant answering Buffers). */
  const scripts = new Map<string, Callable>();
  const scriptCommand = (s: ScriptSource, buffers: boolean): Callable => {
    const id = buffers ? `${s.name}Buffer` : s.name;
    let fn = scripts.get(id);
    if (fn === undefined) {
      if (typeof methods[s.name] !== 'function') client.defineCommand(s.name, { lua: s.lua });
      fn = methods[id]!.bind(client) as Callable;
      scripts.set(id, fn);
    }
    return fn;
  };
  /** Each plain command's method, by name (`hmgetBuffer`, `sadd`, ...). */
  const commands = new Map<string, Callable>();
  return {
    driver: 'ioredis',
    isCluster,
    script(s, keys, args, buffers) {
      const words: (number | Word)[] = [keys.length];
      for (const key of keys) words.push(key);
      for (const a of args) words.push(a);
      return scriptCommand(s, buffers)(...words);
    },
    command(name, key, args, buffers = false) {
      const id = `${name.toLowerCase()}${buffers ? 'Buffer' : ''}`;
      let fn = commands.get(id);
      if (fn === undefined) {
        fn = methods[id]!.bind(client) as Callable;
        commands.set(id, fn);
      }
      return fn(key, ...args);
    },
    ping: () => client.ping(),
    async times(read) {
      if (!isCluster) return [read(await (client as Redis).time())];
      const cluster = client as Cluster;
      let masters = cluster.nodes('master');
      if (masters.length === 0) {
        // Not connected yet: a keyless command waits in the offline queue until the slots are known.
        const first = read(await cluster.time());
        masters = cluster.nodes('master');
        if (masters.length === 0) return [first];
      }
      return Promise.all(masters.map((node) => node.time().then(read)));
    },
    state() {
      const status = client.status;
      if (status === 'ready') return 'ready';
      if (status === 'connect') return 'connecting';
      return status === 'end' ? 'end' : 'down';
    },
    subscribe(channel: string, on: SubscribeHandlers) {
      const sub = isCluster ? (client as Cluster).duplicate() : (client as Redis).duplicate({ autoResubscribe: true });
      // It reconnects by itself and resubscribes (`autoResubscribe`, also a Cluster's default).
      sub.on('error', on.error);
      sub.on('message', (from: string, message: string) => {
        if (from === channel) on.message(message);
      });
      sub.on('ready', on.ready);
      return { subscription: { close: () => sub.disconnect() }, subscribed: sub.subscribe(channel).then(() => undefined) };
    },
    afterWrite: () => coalesceWrites(client, isCluster),
  };
}
