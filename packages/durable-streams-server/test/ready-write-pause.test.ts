import { type ChildProcess, spawn } from 'node:child_process';
import { RedisStreamStore } from '@stowage/stores-redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';

// Readiness reflects whether the store can serve the protocol, writes included: under
// `CLIENT PAUSE <ms> WRITE` Redis still answers PING and reads, but every append waits and
// fails, so a load balancer must stop sending here. On a redis-server of our own (a random
// port, as files run in parallel): the pause stops every client of the server.

const PORT = 13000 + Math.floor(Math.random() * 2000);

async function startRedis(): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  // Up within 10 s, and ours: its process id, not that of another server on the port.
  for (let i = 0; i < 200; i++) {
    const probe = new Redis({ host: '127.0.0.1', port: PORT, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      const info = await probe.info('server');
      if (info.includes(`process_id:${proc.pid}\r`)) return proc;
      proc.kill('SIGKILL');
      throw new Error(`port ${PORT} is taken by another redis-server`);
    } catch (err) {
      if ((err as Error).message.includes('taken')) throw err;
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
  proc.kill('SIGKILL');
  throw new Error(`redis-server on port ${PORT} did not start`);
}

async function ready(base: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}/__ds/health/ready`);
  return { status: res.status, body: await res.json() };
}

describe('readiness while Redis refuses writes (CLIENT PAUSE WRITE)', () => {
  let redis: ChildProcess;
  let admin: Redis;
  let client: Redis;
  let store: RedisStreamStore;
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis({ host: '127.0.0.1', port: PORT });
    client = new Redis({ host: '127.0.0.1', port: PORT });
    // A short time limit: the appends held by the pause fail sooner.
    store = new RedisStreamStore({ client, timeoutMs: 1000 });
    server = createStreamsServer({ store, log: false });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await admin?.call('CLIENT', 'UNPAUSE').catch(() => {});
    await server?.close();
    await store?.close();
    client?.disconnect();
    admin?.disconnect();
    redis?.kill('SIGKILL');
  });

  it('503 during the pause (reads and appends answer 503 for what they asked), 200 after', async () => {
    expect((await fetch(`${base}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'a' })).status).toBe(201);
    expect(await ready(base)).toMatchObject({ status: 200, body: { status: 'ready', store: { ok: true } } });
    // Long enough to outlast every request below; lifted by UNPAUSE.
    await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
    expect(await admin.ping()).toBe('PONG');
    expect(await ready(base)).toMatchObject({ status: 503, body: { status: 'unavailable', store: { ok: false } } });

    const append = await fetch(`${base}/s`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'b' });
    expect(append.status).toBe(503);
    expect(await append.json()).toEqual({
      error: {
        code: 'TIMEOUT',
        message:
          'the stream store did not answer the append in time: it may have been stored; retry later (Producer-Id, Producer-Epoch and Producer-Seq make a retry safe)',
      },
    });
    // The read waits behind the held writes on the store's connection: late too, and told so as a read.
    const read = await fetch(`${base}/s?offset=-1`);
    expect(read.status).toBe(503);
    expect(await read.json()).toEqual({
      error: { code: 'TIMEOUT', message: 'the stream store did not answer the read in time; retry later' },
    });

    await admin.call('CLIENT', 'UNPAUSE');
    let after = await ready(base);
    for (let i = 0; i < 50 && after.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await ready(base);
    }
    expect(after).toMatchObject({ status: 200, body: { status: 'ready', store: { ok: true } } });
    expect((await fetch(`${base}/s`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'c' })).status).toBe(204);
    // The probes wrote nothing: the stream's keys and the store's own only.
    expect((await admin.keys('*')).filter((k) => k.includes('health'))).toEqual([]);
  });
});
