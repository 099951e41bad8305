import { createServer, type Server, type Socket, connect as dial } from 'node:net';

interface Pair {
  client: Socket;
  server: Socket;
  /** It sent a SUBSCRIBE: a stream store's subscriber. */
  subscriber: boolean;
}

/**
 * A TCP relay on loopback to a Redis server, so a test can take Redis away from the clients it
 * relays (cut their connections, refuse new ones) without touching the server, which other
 * suites share. Every refused connection is counted: each is one failed connect attempt.
 */
export class RedisRelay {
  /** Connections reset on arrival while refusing. */
  refused = 0;
  private refusing = false;
  /** While holding: the connections accepted meanwhile, each relayed on {@link release}. */
  private held: (() => void)[] | undefined;
  private readonly pairs = new Set<Pair>();

  private constructor(
    private readonly listener: Server,
    readonly port: number,
  ) {}

  /** A relay to 127.0.0.1:`target` on a free loopback port. */
  static start(target: number): Promise<RedisRelay> {
    let relay: RedisRelay;
    const listener = createServer((client) => relay.accepted(client, target));
    return new Promise((resolve) => {
      listener.listen(0, '127.0.0.1', () => {
        relay = new RedisRelay(listener, (listener.address() as { port: number }).port);
        resolve(relay);
      });
    });
  }

  private accepted(client: Socket, target: number): void {
    if (this.refusing) {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    if (this.held !== undefined) {
      // Connected, and nothing it sends reaches Redis (kept, in order) until released.
      client.pause();
      client.on('error', () => client.destroy());
      this.held.push(() => this.accepted(client, target));
      return;
    }
    const server = dial(target, '127.0.0.1');
    const pair: Pair = { client, server, subscriber: false };
    this.pairs.add(pair);
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (/subscribe/i.test(chunk.toString('latin1'))) pair.subscriber = true;
    });
    client.pipe(server);
    server.pipe(client);
    for (const s of [client, server]) s.on('error', end).on('close', end);
  }

  /** New connections are reset on arrival (and counted) until {@link accept}. */
  refuse(): void {
    this.refusing = true;
  }

  /** New connections are relayed again. */
  accept(): void {
    this.refusing = false;
  }

  /** New connections are accepted but relay nothing (no answer to their first command) until {@link release}. */
  hold(): void {
    this.held ??= [];
  }

  /** The held connections are relayed, from their first byte; new ones are at once. */
  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const relay of held) relay();
  }

  /** Cuts the relayed connections: the subscribers' only, or all. */
  cut(which: 'subscribers' | 'all'): void {
    for (const pair of [...this.pairs]) if (which === 'all' || pair.subscriber) pair.client.destroy();
  }

  /** How many relayed connections are open. */
  get open(): number {
    return this.pairs.size;
  }

  close(): Promise<void> {
    this.cut('all');
    return new Promise((resolve) => this.listener.close(() => resolve()));
  }
}
