import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess } from './cli-process.js';
import { eventually } from './instrumented-store.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;

describe('the stowage-streams CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints its usage, and refuses an unknown store with a clear message', () => {
    const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--store SPEC');
    const bad = spawnSync(process.execPath, [CLI, '--store', 'mongodb://x', '--port', '0'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('unknown store "mongodb://x"');
  });

  it('refuses a SQLite path whose directory cannot be made, at once (it hung under /proc)', () => {
    for (const path of ['/proc/stowage-nope/x.db', '/dev/null/x/y.db']) {
      const r = spawnSync(process.execPath, [CLI, '--store', `sqlite:${path}`, '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.signal).toBeNull();
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/cannot create the directory \/(proc|dev)\S* for the SQLite file/);
    }
  });

  it('expands sqlite:~/ to the home directory, as a shell would', async () => {
    const home = join(dir, 'home');
    const p = new CliProcess(['--store', 'sqlite:~/data/streams.db'], { HOME: home });
    try {
      await p.url;
      expect(existsSync(join(home, 'data', 'streams.db'))).toBe(true);
      expect(existsSync('~')).toBe(false);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });

  it('serves a SQLite file it creates (directory included), keeps the data across a restart, and stops on SIGTERM', async () => {
    const file = join(dir, 'nested', 'data', 'streams.db');
    const first = new CliProcess(['--store', `sqlite:${file}`]);
    const url = await first.url;
    expect(first.output.join('')).toContain(`(store: sqlite:${file})`);
    expect((await fetch(`${url}/hello`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'hello ' })).status).toBe(201);
    expect((await fetch(`${url}/hello`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'world' })).status).toBe(204);
    expect(await first.stop()).toBe(0);

    const second = new CliProcess(['--store', `sqlite:${file}`]);
    const again = await second.url;
    expect(await (await fetch(`${again}/hello?offset=-1`)).text()).toBe('hello world');
    // Errors are logged, one JSON line each, on stderr, with the request's id; an access line too.
    const missing = await fetch(`${again}/missing?offset=-1`);
    expect(missing.status).toBe(404);
    const reqId = missing.headers.get('x-request-id');
    expect(reqId).toMatch(/^[0-9a-f-]{36}$/);
    // The access line on stdout, the warning on stderr: two pipes, so both are waited for.
    const lines = () => second.logLines().filter((l) => l['reqId'] === reqId);
    expect(await eventually(() => lines().length >= 2)).toBe(true);
    expect(lines()).toEqual([
      {
        level: 'info',
        time: expect.any(String),
        msg: 'request completed',
        reqId,
        method: 'GET',
        path: '/missing',
        status: 404,
        durationMs: expect.any(Number),
      },
      {
        level: 'warn',
        time: expect.any(String),
        msg: expect.any(String),
        reqId,
        method: 'GET',
        path: '/missing',
        status: 404,
        code: 'NOT_FOUND',
      },
    ]);
    expect(await second.stop()).toBe(0);
  });

  it('runs on the memory store', async () => {
    const p = new CliProcess(['--store', 'memory', '--long-poll-timeout', '100']);
    const url = await p.url;
    const created = await fetch(`${url}/m`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '[1,2]' });
    const tail = created.headers.get('stream-next-offset');
    const poll = await fetch(`${url}/m?offset=${tail}&live=long-poll`);
    expect(poll.status).toBe(204);
    expect(await (await fetch(`${url}/m`)).json()).toEqual([1, 2]);
    expect(await p.stop()).toBe(0);
  });

  it('prints a curl line that works under --base-path (with or without its trailing slash)', async () => {
    for (const basePath of ['/streams', '/streams/']) {
      const p = new CliProcess(['--store', 'memory', '--base-path', basePath]);
      try {
        const origin = new URL(await p.url).origin;
        // The last line: its signal handlers are in place by the time it arrives.
        expect(await eventually(() => p.output.join('').includes('Try: '))).toBe(true);
        const output = p.output.join('');
        expect(output).toContain(`Durable Streams server on ${origin}/streams/ (store: memory)`);
        const tryLine = /Try: curl -X PUT -H 'Content-Type: text\/plain' (\S+)\n/.exec(output);
        expect(tryLine?.[1]).toBe(`${origin}/streams/hello`);
        expect((await fetch(tryLine![1]!, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
      } finally {
        expect(await p.stop()).toBe(0);
      }
    }
  });

  it('percent-encodes the base path in the URLs it prints (/a b, /x?y), and they work', async () => {
    for (const [basePath, encoded] of [
      ['/a b', '/a%20b/'],
      ['/x?y', '/x%3Fy/'],
    ] as const) {
      const p = new CliProcess(['--store', 'memory', '--base-path', basePath]);
      try {
        // Not `p.url`: it looks for a URL without spaces, and would wait forever for one.
        expect(await eventually(() => p.output.join('').includes('Try: '))).toBe(true);
        const output = p.output.join('');
        const origin = /server on (http:\/\/[^/\s]+)/.exec(output)![1]!;
        expect(output).toContain(`Durable Streams server on ${origin}${encoded} (store: memory)`);
        const tryLine = /Try: curl -X PUT -H 'Content-Type: text\/plain' (\S+)\n/.exec(output);
        expect(tryLine?.[1]).toBe(`${origin}${encoded}hello`);
        expect((await fetch(tryLine![1]!, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
        // The landing page's curl line is the same URL.
        expect(await (await fetch(`${origin}${encoded}`)).text()).toContain(
          `Try: curl -X PUT -H 'Content-Type: text/plain' ${origin}${encoded}hello\n`,
        );
      } finally {
        expect(await p.stop()).toBe(0);
      }
    }
  });

  it('warns once at start when the store does not answer, and keeps serving 503s', async () => {
    // A port nothing listens on.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const p = new CliProcess(['--store', `redis://127.0.0.1:${closedPort}`]);
    try {
      const url = await p.url;
      const health = () => p.logLines().filter((l) => l['operation'] === 'health');
      expect(await eventually(() => health().length > 0, 5000)).toBe(true);
      expect(health()).toHaveLength(1);
      expect(health()[0]!['level']).toBe('warn');
      expect(health()[0]!['msg']).toMatch(/^the store does not answer \(.+\); requests that need it get 503 until it does$/);
      const res = await fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      expect(res.status).toBe(503);
      expect(p.exitCode).toBeNull();
    } finally {
      expect(await p.stop()).toBe(0);
    }
    // A store that answers: no warning.
    const healthy = new CliProcess(['--store', 'memory']);
    try {
      await healthy.url;
      expect(await eventually(() => healthy.output.join('').includes('Try: '))).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      expect(healthy.logLines().filter((l) => l['level'] !== 'info')).toEqual([]);
    } finally {
      expect(await healthy.stop()).toBe(0);
    }
  }, 20_000);

  it('masks every secret a store URL can carry: the password, query values, the fragment', async () => {
    // Nothing listens on port 1: the pool connects only on the first request, and none is made.
    const p = new CliProcess([
      '--store',
      'postgres://app:sekret1@127.0.0.1:1/db?password=sekret2&sslpassword=sekret3&sslmode=disable#sekret4',
    ]);
    try {
      await p.url;
      // The last line: its signal handlers are in place by the time it arrives.
      expect(await eventually(() => p.output.join('').includes('Try: '))).toBe(true);
      const output = p.output.join('');
      expect(output).toContain('(store: postgres://app:***@127.0.0.1:1/db?password=***&sslpassword=***&sslmode=***#***)');
      expect(output).not.toMatch(/sekret/);
    } finally {
      expect(await p.stop()).toBe(0);
    }
    const unknown = spawnSync(process.execPath, [CLI, '--store', 'mongodb://app:sekret1@h/?password=sekret2', '--port', '0'], {
      encoding: 'utf8',
    });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('unknown store "mongodb://app:***@h/?password=***"');
    expect(unknown.stderr).not.toMatch(/sekret/);
  });
});
