import { createConnection, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a real server. `pause()` holds every byte the
 * clients send (the server then sees nothing: a backend that stopped answering, with the
 * connection still up); `resume()` delivers what was held, late. Only this test's
 * connections are affected, unlike pausing the shared server itself.
 */
export interface PausableProxy {
  port: number;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function pausableProxy(host: string, port: number): Promise<PausableProxy> {
  let paused = false;
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = createConnection({ host, port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy()); // a closed peer; the other side is closed below
      s.on('close', () => (sockets.delete(s), client.destroy(), upstream.destroy()));
    }
    client.on('data', (chunk) => (paused ? held.push(() => upstream.write(chunk)) : upstream.write(chunk)));
    upstream.on('data', (chunk) => client.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  return {
    port: address.port,
    pause: () => void (paused = true),
    resume: () => {
      paused = false;
      for (const send of held.splice(0)) send();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
