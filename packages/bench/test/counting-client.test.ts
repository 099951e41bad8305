import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CountingClient } from '../src/suites/counting-client.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        (server as Server).closeAllConnections?.();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

/** A raw server: `answer` writes each request's whole answer on the socket, in the pieces it returns. */
async function raw(answer: (path: string, socket: Socket) => Array<string | Buffer>, pieceDelayMs = 0): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    let pending = '';
    socket.on('data', async (d) => {
      pending += d.toString('latin1');
      let end = pending.indexOf('\r\n\r\n');
      while (end >= 0) {
        const path = pending.slice(0, end).split(' ')[1]!;
        pending = pending.slice(end + 4);
        for (const piece of answer(path, socket)) {
          if (socket.destroyed) return;
          socket.write(piece);
          if (pieceDelayMs > 0) await new Promise((r) => setTimeout(r, pieceDelayMs));
        }
        end = pending.indexOf('\r\n\r\n');
      }
    });
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  closers.push(async () => {
    for (const s of sockets) s.destroy();
  });
  return port;
}

const bytes = (n: number): Buffer => Buffer.alloc(n, 'x');

describe('CountingClient', () => {
  it('counts Content-Length and chunked bodies of node:http, 64 at once on kept-alive connections', async () => {
    let connections = 0;
    const server = createHttpServer((req, res) => {
      const n = Number(new URL(req.url!, 'http://x').searchParams.get('n'));
      if (req.url!.startsWith('/chunked')) {
        for (let i = 0; i < n; i++) res.write(bytes(1000 + i));
        res.end();
      } else res.writeHead(200, { 'Content-Length': n }).end(bytes(n));
    });
    server.on('connection', () => connections++);
    const client = new CountingClient('127.0.0.1', await listen(server));
    closers.unshift(async () => client.close());
    const sized = await Promise.all(Array.from({ length: 64 }, (_, i) => client.get(`/sized?n=${i * 10_000}`)));
    expect(sized.map((r) => r.size)).toEqual(Array.from({ length: 64 }, (_, i) => i * 10_000));
    const chunked = await Promise.all(Array.from({ length: 64 }, (_, i) => client.get(`/chunked?n=${i}`)));
    expect(chunked.map((r) => r.size)).toEqual(Array.from({ length: 64 }, (_, i) => i * 1000 + (i * (i - 1)) / 2));
    expect(chunked.every((r) => r.status === 200 && r.body.length === 0)).toBe(true);
    expect(connections).toBe(64); // the second 64 reused the first 64's connections
  });

  it('reads a head and chunk lines split byte by byte, with chunk extensions and trailers', async () => {
    const answer =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Next: 7\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';
    const port = await raw(() => [...answer], 1);
    const client = new CountingClient('127.0.0.1', port);
    closers.unshift(async () => client.close());
    const r = await client.get('/');
    expect(r).toMatchObject({ status: 200, size: 11, headers: { 'x-next': '7' } });
    expect((await client.get('/')).size).toBe(11); // and the connection is still good
  });

  it('keeps a non-2xx body; reads 204, 304 and a close-delimited body', async () => {
    const port = await raw((path, socket) => {
      if (path === '/404') return ['HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found'];
      if (path === '/204') return ['HTTP/1.1 204 No Content\r\n\r\n'];
      if (path === '/304') return ['HTTP/1.1 304 Not Modified\r\nETag: "a"\r\n\r\n'];
      setTimeout(() => socket.end(), 20);
      return ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n', bytes(3000)];
    });
    const client = new CountingClient('127.0.0.1', port);
    closers.unshift(async () => client.close());
    const missing = await client.get('/404');
    expect([missing.status, missing.body.toString()]).toEqual([404, 'not found']);
    expect((await client.get('/204')).status).toBe(204);
    expect((await client.get('/304')).status).toBe(304);
    expect((await client.get('/until-close')).size).toBe(3000);
  });

  it('skips interim answers (103 Early Hints, 100 Continue) and reads the real one', async () => {
    const server = createHttpServer((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(200, { 'Content-Length': 5 }).end('hello');
    });
    const client = new CountingClient('127.0.0.1', await listen(server));
    closers.unshift(async () => client.close());
    expect(await client.get('/')).toMatchObject({ status: 200, size: 5 });
    const port = await raw(() => ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc']);
    const second = new CountingClient('127.0.0.1', port);
    closers.unshift(async () => second.close());
    expect(await second.get('/')).toMatchObject({ status: 200, size: 3 });
  });

  it('refuses bad framing and a close-delimited body cut by a reset; reads odd but valid lengths', async () => {
    const answers: Record<string, string> = {
      '/abc': 'HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nabc',
      '/exp': 'HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\nabc',
      '/two': 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 5\r\n\r\n0123456789',
      '/minus': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n0\r\n\r\n',
      '/long': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n',
      '/garbage': 'garbage\r\n\r\nabc',
      '/zeros': 'HTTP/1.1 200 OK\r\nContent-Length: 00\r\n\r\n',
      '/same': 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc',
    };
    const port = await raw((path, socket) => {
      const answer = answers[path];
      if (answer !== undefined) return [answer];
      setTimeout(() => socket.resetAndDestroy(), 20);
      return ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n', bytes(1000)];
    });
    const client = new CountingClient('127.0.0.1', port);
    closers.unshift(async () => client.close());
    await expect(client.get('/abc')).rejects.toThrow('bad Content-Length "abc"');
    await expect(client.get('/exp')).rejects.toThrow('bad Content-Length "1e3"');
    await expect(client.get('/two')).rejects.toThrow('bad Content-Length "10, 5"');
    await expect(client.get('/minus')).rejects.toThrow('bad chunk size line "-5"');
    await expect(client.get('/long')).rejects.toThrow('chunk data longer than its size');
    await expect(client.get('/garbage')).rejects.toThrow('bad status line "garbage"');
    expect(await client.get('/zeros')).toMatchObject({ status: 200, size: 0 });
    expect(await client.get('/same')).toMatchObject({ status: 200, size: 3 });
    await expect(client.get('/reset')).rejects.toThrow('in the middle of an answer');
  });

  it('drops a kept-alive connection the server closed while it was idle', async () => {
    let served = 0;
    const server = createHttpServer((_req, res) => {
      served++;
      res.writeHead(200, { 'Content-Length': 5 }).end('hello');
    });
    server.keepAliveTimeout = 50;
    const client = new CountingClient('127.0.0.1', await listen(server));
    closers.unshift(async () => client.close());
    expect((await client.get('/')).size).toBe(5);
    await new Promise((r) => setTimeout(r, 200)); // the server closes the idle connection
    expect((await client.get('/')).size).toBe(5);
    expect(served).toBe(2);
  });

  it('sends a GET again on a new connection when a reused one closes before any answer', async () => {
    // Each connection answers its first request and closes on its second, unanswered (as a
    // server does whose keep-alive timeout passes just as the request arrives).
    const asked: number[] = [];
    const perSocket = new Map<Socket, number>();
    const port = await raw((_path, socket) => {
      const n = (perSocket.get(socket) ?? 0) + 1;
      perSocket.set(socket, n);
      asked.push(n);
      if (n > 1) {
        socket.destroy();
        return [];
      }
      return ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'];
    });
    const client = new CountingClient('127.0.0.1', port);
    closers.unshift(async () => client.close());
    expect((await client.get('/')).size).toBe(5);
    expect((await client.get('/')).size).toBe(5);
    expect(asked).toEqual([1, 2, 1]); // the second GET went out twice: on the old connection, then a new one
  });

  it('rejects, never resolves short, when the server closes in the middle of a body', async () => {
    const port = await raw((_path, socket) => {
      setTimeout(() => socket.destroy(), 20);
      return ['HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n', bytes(4000)];
    });
    const client = new CountingClient('127.0.0.1', port);
    closers.unshift(async () => client.close());
    await expect(client.get('/')).rejects.toThrow('in the middle of an answer');
  });
});
