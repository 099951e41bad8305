import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Comparison, Contender, Op } from '../harness.js';

/**
 * Durable Streams servers over HTTP: ours (`@stowage/durable-streams-server` on each store)
 * beside the reference server (`@durable-streams/server`, its memory and its file store).
 * Every server runs in a child process; the load generator is this process, with one
 * keep-alive HTTP agent per contender.
 */

type Kind = 'reference-memory' | 'reference-file' | 'stowage-memory' | 'stowage-sqlite' | 'stowage-postgres' | 'stowage-redis';

const LIBRARY: Record<Kind, string> = {
  'reference-memory': '@durable-streams/server (memory)',
  'reference-file': '@durable-streams/server (file, LMDB)',
  'stowage-memory': 'stowage + MemoryStreamStore',
  'stowage-sqlite': 'stowage + SqliteStreamStore',
  'stowage-postgres': 'stowage + PostgresStreamStore',
  'stowage-redis': 'stowage + RedisStreamStore',
};

const MESSAGE = Buffer.alloc(100, 'x');
const TEXT = { 'Content-Type': 'text/plain' };

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function call(agent: Agent, base: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function expectStatus(r: Reply, ...ok: number[]): Reply {
  if (!ok.includes(r.status)) throw new Error(`unexpected HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`);
  return r;
}

/** A server of `kind` in a child process, and an HTTP agent to it. */
class ServerProcess {
  private child: ChildProcess | undefined;
  readonly agent = new Agent({ keepAlive: true, maxSockets: 128 });
  url = '';

  constructor(
    private readonly kind: Kind,
    private readonly dir: string,
  ) {}

  async start(): Promise<void> {
    const script = new URL('./streams-server.js', import.meta.url).pathname;
    const dir = mkdtempSync(join(this.dir, `${this.kind}-`));
    const child = spawn(process.execPath, [script, this.kind, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    this.url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        const m = /^URL (\S+)$/m.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`${this.kind} server exited with ${code} before listening`)));
    });
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  call(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
    return call(this.agent, this.url, method, path, headers, body);
  }
}

/** A contender: a server of `kind`, prepared by `prepare`, loaded by the op it returns. */
function contender(kind: Kind, dir: string, prepare: (s: ServerProcess) => Promise<Op>): Contender {
  const server = new ServerProcess(kind, dir);
  return {
    library: LIBRARY[kind],
    setup: async () => {
      await server.start();
      return prepare(server);
    },
    teardown: () => server.stop(),
  };
}

/** POST 100 bytes to one of 100 streams. */
const appendOp = async (s: ServerProcess): Promise<Op> => {
  const paths = Array.from({ length: 100 }, (_, i) => `/bench/append-${i}`);
  for (const p of paths) expectStatus(await s.call('PUT', p, TEXT), 201, 200);
  return async (i) => expectStatus(await s.call('POST', paths[i % paths.length]!, TEXT, MESSAGE), 204, 200);
};

/** GET a 1000-message (100 KB) stream from its start, following Stream-Next-Offset to the tail. */
const catchUpOp = async (s: ServerProcess): Promise<Op> => {
  expectStatus(await s.call('PUT', '/bench/read', TEXT), 201, 200);
  for (let i = 0; i < 1000; i++) expectStatus(await s.call('POST', '/bench/read', TEXT, MESSAGE), 204, 200);
  return async () => {
    let offset = '-1';
    let bytes = 0;
    for (;;) {
      const r = expectStatus(await s.call('GET', `/bench/read?offset=${encodeURIComponent(offset)}`, {}), 200);
      bytes += r.body.length;
      offset = String(r.headers['stream-next-offset']);
      if (r.headers['stream-up-to-date'] === 'true') break;
    }
    if (bytes !== 100_000) throw new Error(`read ${bytes} bytes, expected 100000`);
  };
};

/**
 * A reader long-polls at the tail; 10 ms later (it is waiting) a writer appends. The sample is
 * the time from the append request to the reader's complete answer.
 */
const wakeOp = async (s: ServerProcess): Promise<Op> => {
  const path = '/bench/wake';
  let tail = String(expectStatus(await s.call('PUT', path, TEXT), 201, 200).headers['stream-next-offset']);
  return async () => {
    const poll = s.call('GET', `${path}?offset=${encodeURIComponent(tail)}&live=long-poll`, {});
    await sleep(10);
    const t0 = performance.now();
    const append = s.call('POST', path, TEXT, MESSAGE);
    const r = expectStatus(await poll, 200);
    const latency = performance.now() - t0;
    expectStatus(await append, 204, 200);
    if (r.body.length !== MESSAGE.length) throw new Error(`woke with ${r.body.length} bytes`);
    tail = String(r.headers['stream-next-offset']);
    return latency;
  };
};

async function reachable(kind: Kind, dir: string): Promise<boolean> {
  const s = new ServerProcess(kind, dir);
  try {
    await s.start();
    const r = await s.call('PUT', '/bench/probe', TEXT);
    return r.status === 201 || r.status === 200;
  } catch {
    return false;
  } finally {
    await s.stop();
  }
}

export async function streamsComparisons(): Promise<Comparison[]> {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-bench-streams-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const durable: Kind[] = ['stowage-postgres', 'stowage-redis'];
  const networked: Kind[] = [];
  for (const k of durable) {
    if (await reachable(k, dir)) networked.push(k);
    else console.log(`  (${LIBRARY[k]} skipped: its server is not reachable; set DATABASE_URL / REDIS_URL)`);
  }
  const comparisons: Comparison[] = [];
  const ops: Array<[string, (s: ServerProcess) => Promise<Op>, 'throughput' | 'latency']> = [
    ['append 100 B (POST)', appendOp, 'throughput'],
    ['catch-up read, 1000 × 100 B (GET)', catchUpOp, 'throughput'],
    ['long-poll wake-up (append → reader answered)', wakeOp, 'latency'],
  ];
  for (const [operation, prepare, metric] of ops) {
    comparisons.push({
      contract: 'Durable Streams server',
      operation,
      backend: 'memory',
      metric,
      anchor: contender('reference-memory', dir, prepare),
      ours: contender('stowage-memory', dir, prepare),
    });
    comparisons.push({
      contract: 'Durable Streams server',
      operation,
      backend: 'durable',
      metric,
      anchor: contender('reference-file', dir, prepare),
      ours: contender('stowage-sqlite', dir, prepare),
      others: networked.map((k) => contender(k, dir, prepare)),
    });
  }
  return comparisons;
}
