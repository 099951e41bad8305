import { closedPort } from '@stowage/conformance';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../src/cli-config.js';
import { settingsOf } from '../src/cli-settings.js';
import { CliProcess } from './cli-process.js';
import { eventually } from './instrumented-store.js';
import { sseReader } from './sse-text.js';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const ORIGIN_RULE = 'must be *, false or one origin such as https://app.example.com (scheme, host and port; no path)';
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The CLI run to its end, with only the variables given (none of the test run's own). */
function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  // A bound on a case that would serve instead of refusing (it then fails on its status).
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'], ...env }, timeout: 15_000 });
}

describe('the CLI options: flags, environment, exit codes', () => {
  it('--version and -v print the package version; --help names every variable rule', () => {
    for (const flag of ['--version', '-v']) {
      const r = run([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`${VERSION}\n`);
    }
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/-v, --version[\s\S]*STOWAGE_<FLAG>[\s\S]*PORT, HOST[\s\S]*__ds\/health\/ready[\s\S]*Exit codes/);
    const added = [
      '--sse-heartbeat MS',
      '--sse-max-duration MS',
      '--cors-origin ORIGIN',
      '--cache-control VALUE',
      '--cross-origin-resource-policy',
      '--send-timeout MS',
      '--request-timeout MS',
      '--headers-timeout MS',
      '--read-cache BYTES',
    ];
    for (const flag of added) expect(help.stdout).toContain(flag);
  });

  it('a bad flag or variable is one line on stderr and exit code 2, naming where the value came from', () => {
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [['--port', 'abc'], {}, '--port must be an integer from 0 to 65535, got "abc"'],
      [[], { PORT: '70000' }, 'PORT must be an integer from 0 to 65535, got "70000"'],
      [[], { STOWAGE_PORT: '-1' }, 'STOWAGE_PORT must be an integer from 0 to 65535, got "-1"'],
      [['--port', '-1'], {}, '--port must be an integer from 0 to 65535, got "-1"'],
      [['--long-poll-timeout', '-5'], {}, '--long-poll-timeout must be an integer from 1 to 3600000, got "-5"'],
      [
        [],
        { STOWAGE_STORE: 'memory', STOWAGE_PUBLIC_BASE_URL: 'http://127.0.0.1:1' },
        'STOWAGE_PUBLIC_BASE_URL needs --webhooks or --subscriptions',
      ],
      [[], { STOWAGE_MAX_READ_BYTES: '0' }, 'STOWAGE_MAX_READ_BYTES must be an integer from 1 to 2147483647, got "0"'],
      [['--max-read-messages', '1e3'], {}, '--max-read-messages must be an integer from 1 to 1000000, got "1e3"'],
      [[], { STOWAGE_LONG_POLL_TIMEOUT: '1.5' }, 'STOWAGE_LONG_POLL_TIMEOUT must be an integer from 1 to 3600000, got "1.5"'],
      [[], { STOWAGE_QUIET: 'maybe' }, 'STOWAGE_QUIET must be 1, true, yes, 0, false or no, got "maybe"'],
      [['--log-level', 'loud'], {}, '--log-level must be one of debug, info, warn, error, silent, got "loud"'],
      [['--nope'], {}, "Unknown option '--nope' (see --help)"],
      [[], { STOWAGE_BASE_PATH: 'streams' }, 'STOWAGE_BASE_PATH must start with /, got "streams"'],
      [['--store', 'memory', '--schema', 'x'], {}, '--schema is for a postgres:// store'],
      [['--store', 'memory'], { STOWAGE_KEY_PREFIX: 'x:' }, 'STOWAGE_KEY_PREFIX is for a redis:// store'],
      [['--store', 'memory', '--read-cache', '1000'], {}, '--read-cache is for a sqlite:, postgres:// or redis:// store'],
      [
        ['--store', 'redis://127.0.0.1:1'],
        { STOWAGE_READ_CACHE: '-1' },
        'STOWAGE_READ_CACHE must be an integer from 0 to 9007199254740991, got "-1"',
      ],
      [
        ['--store', 'postgres://127.0.0.1:1/db', '--schema', 'a"; DROP TABLE x; --'],
        {},
        '--schema must be 1 to 63 characters of [A-Za-z0-9_], not starting with a digit, got "a\\"; DROP TABLE x; --"',
      ],
      [
        ['--store', 'postgres://127.0.0.1:1/db', '--table-prefix', '1x'],
        {},
        '--table-prefix must be 1 to 40 characters of [A-Za-z0-9_], not starting with a digit, got "1x"',
      ],
      [
        ['--store', 'redis://127.0.0.1:1', '--key-prefix', 'a{b}:'],
        {},
        '--key-prefix must be 1 to 128 printable ASCII characters, no space, { or }, got "a{b}:"',
      ],
      [[], { STOWAGE_STORE: 'mongodb://x' }, 'unknown store "mongodb://x": use memory, sqlite:PATH, postgres://... or redis://...'],
      [['--sse-heartbeat', '0'], {}, '--sse-heartbeat must be an integer from 1 to 3600000, got "0"'],
      [[], { STOWAGE_SSE_MAX_DURATION: '86400001' }, 'STOWAGE_SSE_MAX_DURATION must be an integer from 1 to 86400000, got "86400001"'],
      [['--send-timeout', '0'], {}, '--send-timeout must be an integer from 1 to 86400000, got "0"'],
      [['--headers-timeout', '120001'], {}, '--headers-timeout must be at most the request time limit (120000 ms)'],
      [
        ['--request-timeout', '1000'],
        { STOWAGE_HEADERS_TIMEOUT: '2000' },
        'STOWAGE_HEADERS_TIMEOUT must be at most the request time limit (1000 ms)',
      ],
      [['--cors-origin', 'https://app.example.com/'], {}, `--cors-origin ${ORIGIN_RULE}, got "https://app.example.com/"`],
      [[], { STOWAGE_CORS_ORIGIN: 'app.example.com' }, `STOWAGE_CORS_ORIGIN ${ORIGIN_RULE}, got "app.example.com"`],
      [['--cors-origin', 'HTTPS://App.example.com'], {}, `--cors-origin ${ORIGIN_RULE}, got "HTTPS://App.example.com"`],
      [
        [],
        { STOWAGE_CACHE_CONTROL: 'public,\tmax-age=60' },
        'STOWAGE_CACHE_CONTROL must be a header value of printable ASCII, e.g. "public, max-age=60", got "public,\\tmax-age=60"',
      ],
      [
        ['--cross-origin-resource-policy', 'none'],
        {},
        '--cross-origin-resource-policy must be one of cross-origin, same-site, same-origin, got "none"',
      ],
    ];
    for (const [args, env, message] of cases) {
      const r = run(args, env);
      expect({ args, env, status: r.status, stderr: r.stderr }).toEqual({ args, env, status: 2, stderr: `stowage-streams: ${message}\n` });
    }
  });

  it('reads every option from the environment: STOWAGE_STORE, PORT, HOST, STOWAGE_<FLAG>', async () => {
    const port = await closedPort();
    const p = new CliProcess(
      [],
      {
        STOWAGE_STORE: 'memory',
        PORT: String(port),
        HOST: '127.0.0.1',
        STOWAGE_BASE_PATH: '/env',
        STOWAGE_LONG_POLL_TIMEOUT: '50',
      },
      { port: false },
    );
    try {
      const url = await p.url;
      expect(url).toBe(`http://127.0.0.1:${port}/env`);
      expect(p.output.join('')).toContain('(store: memory)');
      const created = await fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      expect(created.status).toBe(201);
      // STOWAGE_LONG_POLL_TIMEOUT=50: the long-poll answers 204 instead of waiting 20 s.
      const poll = await fetch(`${url}/s?offset=${created.headers.get('stream-next-offset')}&live=long-poll`);
      expect(poll.status).toBe(204);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });

  it('flag > STOWAGE_<FLAG> > PORT / HOST > default', async () => {
    // PORT is never read when a flag or STOWAGE_PORT gives the port: were it, it would exit 2.
    const flag = new CliProcess(['--store', 'memory'], { PORT: 'not-a-port', STOWAGE_PORT: 'not-either' });
    try {
      expect(await flag.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    } finally {
      expect(await flag.stop()).toBe(0);
    }
    const port = await closedPort();
    const env = new CliProcess(
      [],
      { STOWAGE_STORE: 'memory', STOWAGE_PORT: String(port), PORT: 'not-a-port', STOWAGE_HOST: '127.0.0.1', HOST: 'localhost' },
      { port: false },
    );
    try {
      expect(await env.url).toBe(`http://127.0.0.1:${port}`);
    } finally {
      expect(await env.stop()).toBe(0);
    }
    const hostOnly = new CliProcess([], { STOWAGE_STORE: 'memory', HOST: 'localhost' });
    try {
      expect(await hostOnly.url).toMatch(/^http:\/\/localhost:\d+$/);
    } finally {
      expect(await hostOnly.stop()).toBe(0);
    }
    // STOWAGE_QUIET=1 silences the error lines; --quiet is the same.
    const quiet = new CliProcess(['--store', 'memory'], { STOWAGE_QUIET: '1' });
    try {
      const url = await quiet.url;
      expect((await fetch(`${url}/missing`)).status).toBe(404);
      expect(await eventually(() => quiet.output.join('').includes('Try: '))).toBe(true);
      expect(quiet.output.join('')).not.toContain('NOT_FOUND');
    } finally {
      expect(await quiet.stop()).toBe(0);
    }

    // STOWAGE_LOG_LEVEL=warn drops the access lines (info) and keeps the error line of the 404.
    const warn = new CliProcess(['--store', 'memory'], { STOWAGE_LOG_LEVEL: 'warn' });
    try {
      const url = await warn.url;
      const res = await fetch(`${url}/missing`);
      expect(res.status).toBe(404);
      const reqId = res.headers.get('x-request-id');
      expect(await eventually(() => warn.logLines().some((l) => l['reqId'] === reqId))).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      expect(warn.logLines().map((l) => [l['level'], l['reqId'] ?? null])).toEqual([['warn', reqId]]);
    } finally {
      expect(await warn.stop()).toBe(0);
    }
  });

  it('the SSE and response-header options: unset keeps the server defaults; a flag wins over its variable', () => {
    const unset = settingsOf(readConfig([], {}));
    expect([unset.sseHeartbeatMs, unset.sseMaxDurationMs, unset.headers]).toEqual([undefined, undefined, {}]);
    const env = {
      STOWAGE_SSE_HEARTBEAT: '5000',
      STOWAGE_SSE_MAX_DURATION: '30000',
      STOWAGE_CORS_ORIGIN: 'false',
      STOWAGE_CACHE_CONTROL: 'public, max-age=60',
      STOWAGE_CROSS_ORIGIN_RESOURCE_POLICY: 'same-site',
    };
    const fromEnv = settingsOf(readConfig([], env));
    expect([fromEnv.sseHeartbeatMs, fromEnv.sseMaxDurationMs, fromEnv.headers]).toEqual([
      5000,
      30_000,
      { corsOrigin: false, cacheControl: 'public, max-age=60', crossOriginResourcePolicy: 'same-site' },
    ]);
    const argv = ['--sse-heartbeat', '100', '--cors-origin', 'http://localhost:5173', '--cross-origin-resource-policy', 'same-origin'];
    const flags = settingsOf(readConfig(argv, env));
    expect([flags.sseHeartbeatMs, flags.sseMaxDurationMs, flags.headers]).toEqual([
      100,
      30_000,
      { corsOrigin: 'http://localhost:5173', cacheControl: 'public, max-age=60', crossOriginResourcePolicy: 'same-origin' },
    ]);
    expect(settingsOf(readConfig(['--cors-origin', '*'], {})).headers).toEqual({ corsOrigin: '*' });
  });

  it('the time limits: unset keeps the server defaults; a flag wins over its variable', () => {
    expect(settingsOf(readConfig([], {})).timeouts).toEqual({});
    const env = { STOWAGE_SEND_TIMEOUT: '5000', STOWAGE_REQUEST_TIMEOUT: '60000' };
    expect(settingsOf(readConfig(['--request-timeout', '90000', '--headers-timeout', '1000'], env)).timeouts).toEqual({
      sendTimeoutMs: 5000,
      requestTimeoutMs: 90_000,
      headersTimeoutMs: 1000,
    });
  });

  it('--headers-timeout reaches the server: a head that stalls gets 408', async () => {
    const p = new CliProcess(['--store', 'memory', '--headers-timeout', '300', '--request-timeout', '600'], {});
    try {
      const url = new URL(await p.url);
      const socket = connect(Number(url.port), url.hostname);
      socket.on('error', () => {});
      let answer = '';
      socket.on('data', (chunk: Buffer) => void (answer += chunk.toString('latin1')));
      const closed = new Promise((r) => socket.once('close', r));
      socket.write('GET /s HTTP/1.1\r\nHost: a\r\n'); // never ends its head
      // The server's default (20 s) would still hold it then: only the flag's 300 ms closes it.
      const bound = new Promise((r) => setTimeout(() => r('still open'), 10_000).unref());
      expect(await Promise.race([closed.then(() => 'closed'), bound])).toBe('closed');
      expect(answer.startsWith('HTTP/1.1 408 ')).toBe(true);
      socket.destroy();
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });

  it('the SSE and response-header options reach the server', async () => {
    const p = new CliProcess(['--store', 'memory', '--cors-origin', 'https://app.example.com', '--sse-max-duration', '1500'], {
      STOWAGE_SSE_HEARTBEAT: '100',
      STOWAGE_CROSS_ORIGIN_RESOURCE_POLICY: 'same-site',
    });
    try {
      const url = await p.url;
      const created = await fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      expect(created.status).toBe(201);
      expect(created.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      expect(created.headers.get('vary')).toContain('Origin');
      expect(created.headers.get('cross-origin-resource-policy')).toBe('same-site');
      // An idle SSE reader at the tail: heartbeats every 100 ms (the default, 15 s, would send
      // none), and the response ends by itself after 1.5 s (the default is 60 s).
      const res = await fetch(`${url}/s?offset=${created.headers.get('stream-next-offset')}&live=sse`);
      expect(res.status).toBe(200);
      const text = await sseReader(res).until(() => false);
      expect(text.split(': \n\n').length - 1).toBeGreaterThanOrEqual(2);
    } finally {
      expect(await p.stop()).toBe(0);
    }
  });
});
