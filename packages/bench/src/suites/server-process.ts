import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { CountingClient } from './counting-client.js';

/** The Durable Streams servers the bench runs (see streams-server.ts). */
export type Kind = 'reference-memory' | 'reference-file' | 'stowage-memory' | 'stowage-sqlite' | 'stowage-postgres' | 'stowage-redis';

export const LIBRARY: Record<Kind, string> = {
  'reference-memory': '@durable-streams/server (memory)',
  'reference-file': '@durable-streams/server (file, LMDB)',
  'stowage-memory': 'stowage + MemoryStreamStore',
  'stowage-sqlite': 'stowage + SqliteStreamStore',
  'stowage-postgres': 'stowage + PostgresStreamStore',
  'stowage-redis': 'stowage + RedisStreamStore',
};

/** What a server child reports of itself: `process.memoryUsage()` bytes and CPU time used so far, ms. */
export interface ServerUsage {
  rss: number;
  heapUsed: number;
  external: number;
  cpuMs: number;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Empty for a 2xx answer to `ServerProcess.count`, which counts the body only. */
  body: Buffer;
  /** The body's length in bytes. */
  size: number;
}

/**
 * One request. A GET that finds its kept-alive socket closed by the server (idle past the
 * server's keep-alive timeout, at the moment it was reused) is sent once more, as Node's
 * documentation advises: only a GET, which changes nothing.
 */
export function call(
  agent: Agent,
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
  retried = false,
): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const req = request(`${base}${path}`, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), size }));
      res.on('error', reject);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (method === 'GET' && !retried && req.reusedSocket && err.code === 'ECONNRESET') {
        call(agent, base, method, path, headers, body, true).then(resolve, reject);
      } else reject(err);
    });
    req.end(body);
  });
}

export function expectStatus(r: Reply, ...ok: number[]): Reply {
  if (!ok.includes(r.status)) throw new Error(`unexpected HTTP ${r.status}: ${r.body.toString('utf8').slice(0, 200)}`);
  return r;
}

/**
 * A server of `kind` in a child process (so the server and the load generator do not share
 * a core), and a keep-alive HTTP agent to it. `args` go to streams-server.js after the kind
 * and directory (`webhooks` turns subscriptions on).
 */
export class ServerProcess {
  private child: ChildProcess | undefined;
  readonly agent = new Agent({ keepAlive: true, maxSockets: 128 });
  private counter: CountingClient | undefined;
  url = '';

  constructor(
    readonly kind: Kind,
    private readonly dir: string,
    private readonly args: readonly string[] = [],
    /** Node flags for this child (before BENCH_SERVER_NODE_OPTIONS'), e.g. `--expose-gc`. */
    private readonly nodeFlags: readonly string[] = [],
  ) {}

  async start(): Promise<void> {
    const script = new URL('./streams-server.js', import.meta.url).pathname;
    const dir = mkdtempSync(join(this.dir, `${this.kind}-`));
    // BENCH_SERVER_NODE_OPTIONS: flags for the server child only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
    const flags = (process.env.BENCH_SERVER_NODE_OPTIONS ?? '').split(/\s+/).filter((f) => f.length > 0);
    const child = spawn(process.execPath, [...this.nodeFlags, ...flags, script, this.kind, dir, ...this.args], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
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
    this.counter?.close();
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }

  /**
   * The server process's own account of its memory and CPU time, asked over the IPC channel;
   * `gc`: after a full GC (when it runs with `--expose-gc`).
   */
  usage(gc = false): Promise<ServerUsage> {
    const child = this.child;
    if (child === undefined) return Promise.reject(new Error('server not started'));
    return new Promise<ServerUsage>((resolve) => {
      child.once('message', (m) => resolve(m as ServerUsage));
      child.send(gc ? 'usage after gc' : 'usage');
    });
  }

  call(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
    return call(this.agent, this.url, method, path, headers, body);
  }

  /** A GET whose 2xx body is counted, not kept (`Reply.size`); see counting-client.ts for why. */
  count(path: string): Promise<Reply> {
    if (this.counter === undefined) {
      const { hostname, port } = new URL(this.url);
      this.counter = new CountingClient(hostname, Number(port));
    }
    return this.counter.get(path);
  }
}

/** Whether a server of `kind` starts and creates a stream (its database is reachable). */
export async function reachable(kind: Kind, dir: string): Promise<boolean> {
  const s = new ServerProcess(kind, dir);
  try {
    await s.start();
    const r = await s.call('PUT', '/bench/probe', { 'Content-Type': 'text/plain' });
    return r.status === 201 || r.status === 200;
  } catch {
    return false;
  } finally {
    await s.stop();
  }
}
