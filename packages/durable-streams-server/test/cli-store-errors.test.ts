import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describeBackends, imagesForAppSuites, postgresBackends } from '@stowage/conformance/backends';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CliProcess } from './cli-process.js';
import { randomSuffix } from './helpers.js';
import { eventually } from './instrumented-store.js';

// A store's failure in the background (its LISTEN or subscriber connection lost) is one JSON
// error line that names the store once. The stores' messages already start with their name
// (`@stowage/stores-redis RedisStreamStore: ...`), and the CLI used to put it in front again.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The error lines of `operation`, each line's `msg`. */
const messagesOf = (p: CliProcess, operation: string): string[] =>
  p
    .logLines()
    .filter((l) => l['level'] === 'error' && l['operation'] === operation)
    .map((l) => String(l['msg']));

const count = (text: string, part: string): number => text.split(part).length - 1;

/** Polls `condition` until it holds, for up to 15 s. */
async function until(condition: () => Promise<boolean>): Promise<boolean> {
  for (const end = Date.now() + 15_000; Date.now() < end; await sleep(50)) if (await condition()) return true;
  return false;
}

/** A stream `s` and a long-poll at its tail, so the store listens for changes. */
async function waitingOn(url: string): Promise<{ poll: Promise<Response> }> {
  const created = await fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
  expect(created.status).toBe(201);
  const poll = fetch(`${url}/s?offset=${created.headers.get('stream-next-offset')}&live=long-poll`);
  poll.catch(() => {}); // answered or cut at the CLI's stop
  return { poll };
}

/**
 * A redis-server of the test's own on the first free port of 6393 to 6397 (taken: it exits;
 * another server there answers with another process id: ours is stopped, the next is tried),
 * or on `ports` given.
 */
async function ownRedis(ports = [6393, 6394, 6395, 6396, 6397]): Promise<{ port: number; process: ChildProcess }> {
  for (const port of ports) {
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 200 && proc.exitCode === null && proc.signalCode === null; i++) {
      const pid = /process_id:(\d+)/.exec(redisCli(port, 'info', 'server'))?.[1];
      if (pid === String(proc.pid)) return { port, process: proc };
      if (pid !== undefined) break;
      await sleep(50);
    }
    proc.kill('SIGKILL');
  }
  throw new Error('no free port for a redis-server of our own in 6393 to 6397');
}

/**
 * Redis down on `port` (its server stopped): each connection there is reset at once, and
 * counted: one failed connect attempt of a client.
 */
async function resetting(port: number): Promise<{ attempts(): number; close(): Promise<void> }> {
  let attempts = 0;
  const server = createServer((socket) => {
    attempts++;
    socket.resetAndDestroy();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { attempts: () => attempts, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function redisCli(port: number, ...args: string[]): string {
  try {
    return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', stdio: 'pipe' });
  } catch {
    return ''; // not up (yet)
  }
}

describe('a store failing in the background, in the CLI log', () => {
  it('Redis: its subscriber losing the server is logged with the store named once, one line per outage', async () => {
    let redis = await ownRedis();
    const port = redis.port;
    let p: CliProcess | undefined;
    const subscribed = () => eventually(() => redisCli(port, 'pubsub', 'channels').includes('events'), 15_000);
    /** Stops the server; its port resets connections until `attempts` were made there. */
    const outage = async (attempts: number) => {
      redis.process.kill('SIGKILL');
      await once(redis.process, 'exit');
      const down = await resetting(port);
      await eventually(() => down.attempts() >= attempts, 30_000);
      expect(down.attempts()).toBeGreaterThanOrEqual(attempts);
      await down.close();
    };
    try {
      p = new CliProcess(['--store', `redis://127.0.0.1:${port}`, '--log-level', 'warn', '--shutdown-timeout', '1000']);
      const url = await p.url;
      await waitingOn(url);
      // The subscriber is up once the server lists its channel.
      expect(await subscribed()).toBe(true);
      // Many reconnect attempts (the client's and the subscriber's), one line.
      await outage(10);
      const cli = p;
      expect(await eventually(() => messagesOf(cli, 'subscribe').length > 0, 15_000)).toBe(true);
      expect(messagesOf(p, 'subscribe')).toHaveLength(1);
      const [msg] = messagesOf(p, 'subscribe');
      expect(msg).toMatch(/^background subscribe failed: @stowage\/stores-redis RedisStreamStore: Redis is unreachable/);
      expect(count(msg!, 'RedisStreamStore')).toBe(1);
      // The client's own connection error, from ioredis: named by the CLI, once.
      expect(messagesOf(p, 'connection')).toEqual([expect.stringMatching(/^background connection failed: ioredis client: [^:]/)]);
      // Back (the subscriber resubscribes by itself), then down again: one line more.
      redis = await ownRedis([port]);
      expect(await subscribed()).toBe(true);
      // The client back too (it retries on its own backoff, later than the subscriber may): a
      // create lands (the restarted server lost the stream). Else the second outage is, for the
      // client, the first one going on.
      const put = () => fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      expect(await until(async () => (await put()).status < 300)).toBe(true);
      await outage(10);
      // The subscriber's line and the client's come in either order.
      expect(await eventually(() => messagesOf(cli, 'subscribe').length > 1 && messagesOf(cli, 'connection').length > 1, 15_000)).toBe(
        true,
      );
      expect(messagesOf(p, 'subscribe')).toHaveLength(2);
      expect(messagesOf(p, 'connection')).toHaveLength(2);
    } finally {
      redis.process.kill('SIGKILL');
      expect(await p?.stop()).toBe(0);
    }
  }, 90_000);
});

describeBackends(await postgresBackends(imagesForAppSuites('postgres')), (backend) => {
  it('PostgreSQL: its LISTEN connection cut is logged with the store named once', async () => {
    const app = `stowage-cli-errors-${randomSuffix()}`;
    const schema = `ds_cli_errors_${randomSuffix()}`;
    const spec = new URL(backend.url);
    spec.searchParams.set('application_name', app);
    const admin = new pg.Pool({ connectionString: backend.url });
    const p = new CliProcess(['--store', spec.toString(), '--schema', schema, '--log-level', 'warn']);
    try {
      const url = await p.url;
      const { poll } = await waitingOn(url);
      const ours = `SELECT pid FROM pg_stat_activity WHERE application_name = $1`;
      // The LISTEN connection is up once the server shows it.
      expect(await until(async () => (await admin.query(`${ours} AND query ILIKE 'LISTEN%'`, [app])).rowCount === 1)).toBe(true);
      // The LISTEN connection alone: the pool's idle clients stay (cutting them is another test's).
      await admin.query(`SELECT pg_terminate_backend(pid) FROM (${ours} AND query ILIKE 'LISTEN%') AS cli`, [app]);
      expect(await eventually(() => messagesOf(p, 'listen').length > 0, 15_000)).toBe(true);
      for (const msg of messagesOf(p, 'listen')) {
        expect(msg).toMatch(/^background listen failed: @stowage\/stores-postgres PostgresStreamStore: [^@]/);
        expect(count(msg, 'PostgresStreamStore')).toBe(1);
      }
      // And it serves on: an append lands and wakes the long-poll.
      expect((await fetch(`${url}/s`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'x' })).status).toBe(204);
      expect((await poll).status).toBe(200);
    } finally {
      expect(await p.stop()).toBe(0);
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    }
  });
});
