import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';

// `Stream-Forked-From` as an absolute URL names this server when its host is the one the
// request was sent to (its Host header, a default port written or not), or an address this
// server listens on (or `localhost` on loopback) with the port the request came in on. It used
// to be the Host header alone: `http://localhost:4437/s` sent to `127.0.0.1:4437` was refused
// as "another server". Every request here goes to 127.0.0.1; the URLs are only read, never
// connected to.

/** A PUT of `/<target>` forking `from`, with `host` as its Host header; the status and body. */
function forkPut(port: number, target: string, from: string, host = `127.0.0.1:${port}`): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'PUT',
      path: `/${target}`,
      headers: { Host: host, 'Stream-Forked-From': from },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.end();
  });
}

/** A server on `host`, port 0, with a stream `src` holding `hello`; its port. */
async function serve(host: string, servers: StreamsServer[], store: MemoryStreamStore): Promise<number> {
  const server = createStreamsServer({ store, log: false });
  servers.push(server);
  const url = await server.listen(0, host);
  return Number(new URL(url).port);
}

describe('a fork source URL that names this server by another name', () => {
  const store = new MemoryStreamStore();
  const servers: StreamsServer[] = [];
  let port = 0;
  let n = 0;
  beforeAll(async () => {
    await store.create('src', { contentType: 'text/plain' });
    await store.append('src', [Buffer.from('hello')]);
    port = await serve('127.0.0.1', servers, store);
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
    await store.close();
  });

  /** Forks `src` as `from` names it into a new stream: the status, then the fork's data or the error's message. */
  const fork = async (from: string, host?: string): Promise<string> => {
    const target = `fork-${++n}`;
    const { status, body } = await forkPut(port, target, from, host);
    if (status !== 201) return `${status} ${JSON.parse(body).error.message}`;
    return `${status} ${await (await fetch(`http://127.0.0.1:${port}/${target}?offset=-1`)).text()}`;
  };

  it('localhost for 127.0.0.1, and 127.0.0.1 for localhost: this server', async () => {
    expect(await fork(`http://localhost:${port}/src`)).toBe('201 hello');
    expect(await fork(`http://127.0.0.1:${port}/src`, `localhost:${port}`)).toBe('201 hello');
    // Another spelling of the address the request came in on.
    expect(await fork(`http://[::ffff:127.0.0.1]:${port}/src`)).toBe('201 hello');
  });

  it('the request’s own host with the default port written or left out: this server', async () => {
    // Behind a TLS proxy: the client wrote https://streams.example, the proxy sent Host: streams.example:443.
    expect(await fork('https://streams.example/src', 'streams.example:443')).toBe('201 hello');
    expect(await fork('http://streams.example:80/src', 'streams.example')).toBe('201 hello');
    expect(await fork('https://streams.example/src', 'streams.example')).toBe('201 hello');
  });

  it('another port, another address, another name: another server', async () => {
    const refused = (host: string) => `400 Stream-Forked-From names another server (${host})`;
    const other = port === 1 ? 2 : port - 1;
    expect(await fork(`http://127.0.0.1:${other}/src`)).toMatch(refused(`127.0.0.1:${other}`));
    expect(await fork(`http://localhost:${other}/src`)).toMatch(refused(`localhost:${other}`));
    // Loopback addresses this server does not listen on (it listens on 127.0.0.1 alone).
    expect(await fork(`http://127.0.0.2:${port}/src`)).toMatch(refused(`127.0.0.2:${port}`));
    expect(await fork(`http://[::1]:${port}/src`)).toMatch(refused(`[::1]:${port}`));
    expect(await fork(`http://other.example:${port}/src`)).toMatch(refused(`other.example:${port}`));
    expect(await fork('http://streams.example:8080/src', 'streams.example')).toMatch(refused('streams.example:8080'));
    expect(await fork(`http://localhost.example:${port}/src`)).toMatch(refused(`localhost.example:${port}`));
  });

  it('a server listening on every IPv4 address (0.0.0.0): any IPv4 address of this machine, not IPv6', async () => {
    const wide = await serve('0.0.0.0', servers, store);
    const at = async (from: string) => {
      const target = `fork-${++n}`;
      const { status } = await forkPut(wide, target, from);
      return status;
    };
    expect(await at(`http://127.0.0.2:${wide}/src`)).toBe(201);
    expect(await at(`http://localhost:${wide}/src`)).toBe(201);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
    if (external !== undefined) expect(await at(`http://${external.address}:${wide}/src`)).toBe(201);
    expect(await at(`http://[::1]:${wide}/src`)).toBe(400);
    // An address of no interface here (TEST-NET-3), on the right port.
    expect(await at(`http://203.0.113.9:${wide}/src`)).toBe(400);
  });
});
