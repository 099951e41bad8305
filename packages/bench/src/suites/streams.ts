import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Comparison, Contender, Op } from '../harness.js';
import { expectStatus, type Kind, LIBRARY, reachable, ServerProcess } from './server-process.js';

/**
 * Durable Streams servers over HTTP: ours (`@stowage/durable-streams-server` on each store)
 * beside the reference server (`@durable-streams/server`, its memory and its file store).
 * Every server runs in a child process; the load generator is this process, with one
 * keep-alive HTTP agent per contender.
 */

const MESSAGE = Buffer.alloc(100, 'x');
const TEXT = { 'Content-Type': 'text/plain' };

/** A contender: a server of `kind`, prepared by `prepare`, loaded by the op it returns. */
function contender(kind: Kind, dir: string, prepare: (s: ServerProcess) => Promise<Op>): Contender {
  const server = new ServerProcess(kind, dir);
  return {
    library: LIBRARY[kind],
    setup: async () => {
      await server.start();
      const op = await prepare(server);
      // A failed call names its server: a failed comparison otherwise does not say whose it was.
      return (i) =>
        op(i).catch((err: unknown) => {
          const e = err as NodeJS.ErrnoException;
          throw new Error(`${LIBRARY[kind]}: ${e.message}${e.code === undefined ? '' : ` (${e.code})`}`, { cause: err });
        });
    },
    teardown: () => server.stop(),
    cpuMs: async () => (await server.usage()).cpuMs,
  };
}

/** POST 100 bytes to one of 100 streams. */
const appendOp = async (s: ServerProcess): Promise<Op> => {
  const paths = Array.from({ length: 100 }, (_, i) => `/bench/append-${i}`);
  for (const p of paths) expectStatus(await s.call('PUT', p, TEXT), 201, 200);
  return async (i) => expectStatus(await s.call('POST', paths[i % paths.length]!, TEXT, MESSAGE), 204, 200);
};

/**
 * GET a stream of `count` messages of `size` bytes from its start, following
 * Stream-Next-Offset to the tail. The stream is filled once per contender, untimed.
 */
const catchUpOp =
  (size: number, count: number) =>
  async (s: ServerProcess): Promise<Op> => {
    const message = Buffer.alloc(size, 'x');
    const path = `/bench/read-${size}`;
    expectStatus(await s.call('PUT', path, TEXT), 201, 200);
    for (let i = 0; i < count; i++) expectStatus(await s.call('POST', path, TEXT, message), 204, 200);
    const total = size * count;
    return async () => {
      let offset = '-1';
      let bytes = 0;
      for (;;) {
        const r = expectStatus(await s.count(`${path}?offset=${encodeURIComponent(offset)}`), 200);
        bytes += r.size;
        offset = String(r.headers['stream-next-offset']);
        if (r.headers['stream-up-to-date'] === 'true') break;
      }
      if (bytes !== total) throw new Error(`read ${bytes} bytes, expected ${total}`);
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
    ['catch-up read, 1000 × 100 B (GET)', catchUpOp(100, 1000), 'throughput'],
    ['catch-up read, 100 × 64 KiB (GET)', catchUpOp(64 * 1024, 100), 'throughput'],
    // One small message: what a server spends per request besides the bytes it sends.
    ['catch-up read, 1 × 100 B (GET)', catchUpOp(100, 1), 'throughput'],
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
