/**
 * Faults for adapter tests: `HoldingProxy`, a network that holds bytes, to show that a call
 * reported failed never takes effect afterwards (the deadline rule of core's `CallOptions`):
 * put it between your client and a server on 127.0.0.1, `hold()`, make a call with a short
 * deadline, see it fail, `deliver()`, and check that the state did not change.
 *
 * @module
 */
import net from 'node:net';

/** One client connection through the proxy and its connection to the server. */
interface Pair {
  client: net.Socket;
  server: net.Socket;
  /** Client bytes held back from the server, in order. */
  held: Buffer[];
  clientGone: boolean;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a real server, as a network that delays packets:
 * while holding, the bytes clients send are kept back (the server's answers still flow), and
 * `deliver()` hands them to the server later, even when the client has closed its end by
 * then: bytes already on the wire arrive whether or not their sender still waits for them.
 */
export class HoldingProxy {
  private readonly pairs = new Set<Pair>();
  private holding = false;
  /** Start holding at the first client chunk this accepts (`hold(match)`). */
  private trigger: ((chunk: Buffer) => boolean) | undefined;

  private constructor(
    private readonly listener: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<HoldingProxy> {
    const listener = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const proxy = new HoldingProxy(listener, (listener.address() as net.AddressInfo).port);
    listener.on('connection', (client) => proxy.accept(client, targetPort));
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  private accept(client: net.Socket, targetPort: number): void {
    const server = net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    const pair: Pair = { client, server, held: [], clientGone: false };
    this.pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (!this.holding && this.trigger?.(chunk)) {
        this.holding = true;
        this.trigger = undefined;
      }
      if (this.holding) pair.held.push(chunk);
      else server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (!client.destroyed) client.write(chunk);
    });
    // The client's end closes the server's only once its held bytes went through.
    client.on('end', () => {
      pair.clientGone = true;
      if (pair.held.length === 0) server.end();
    });
    client.on('error', () => {
      pair.clientGone = true;
      if (pair.held.length === 0) server.destroy();
    });
    server.on('error', () => client.destroy());
    server.on('close', () => {
      client.destroy();
      this.pairs.delete(pair);
    });
  }

  /** Keeps client bytes back from now on, or (with `match`) from the first chunk it accepts. */
  hold(match?: (chunk: Buffer) => boolean): void {
    if (match === undefined) this.holding = true;
    else this.trigger = match;
  }

  /** Bytes held so far, over all connections. */
  heldBytes(): number {
    let n = 0;
    for (const p of this.pairs) for (const c of p.held) n += c.length;
    return n;
  }

  /**
   * Stops holding and sends the held bytes on; resolves once the server has answered (or
   * closed) each connection that had some, so what they asked for has run.
   */
  async deliver(): Promise<void> {
    this.holding = false;
    this.trigger = undefined;
    const answered: Promise<void>[] = [];
    for (const pair of this.pairs) {
      if (pair.held.length === 0) continue;
      answered.push(
        new Promise<void>((resolve) => {
          pair.server.once('data', () => resolve());
          pair.server.once('close', () => resolve());
        }),
      );
      for (const chunk of pair.held.splice(0)) pair.server.write(chunk);
      if (pair.clientGone) pair.server.end();
    }
    await Promise.all(answered);
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.server.destroy();
    }
    await new Promise<void>((resolve) => this.listener.close(() => resolve()));
  }
}
