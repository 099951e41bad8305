import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Comparison, Contender } from '../harness.js';
import { expectStatus, type Kind, LIBRARY, reachable, ServerProcess } from './server-process.js';

/**
 * Webhook subscriptions: the time from an append to a subscribed stream until the webhook
 * receiver (an HTTP server on 127.0.0.1 in this process) has the whole POST announcing it.
 * The reference server `@durable-streams/server` (webhooks on) beside ours on each store;
 * every server runs in a child process with webhooks on (see streams-server.ts).
 *
 * Serial only: a subscription has at most one wake at a time, and appends made while it is
 * out coalesce into the next one, so "64 appends in flight" would measure how many appends
 * share a POST, not how fast one is delivered.
 */

const MESSAGE = Buffer.alloc(100, 'x');
const TEXT = { 'Content-Type': 'text/plain' };
const JSON_TYPE = { 'Content-Type': 'application/json' };
/** Both servers serve streams and their reserved APIs under this root (the reference knows no other). */
const ROOT = '/v1/stream/';
/** A wake not delivered by then fails the run (a failed POST would be retried a second later, skewing the sample). */
const DELIVERY_TIMEOUT_MS = 10_000;

interface Delivery {
  /** `performance.now()` when the whole POST body had arrived. */
  at: number;
  /** tail_offset per stream path, as the POST announced it. */
  tails: Map<string, string>;
}

/** A webhook receiver that answers every POST `{"done": true}`, so the server acks the wake and may start the next. */
class WebhookReceiver {
  readonly #server: Server;
  #queue: Delivery[] = [];
  #notify: (() => void) | undefined;
  url = '';
  /** POSTs received. */
  count = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = performance.now();
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { streams?: Array<{ path: string; tail_offset: string }> };
        this.count++;
        this.#queue.push({ at, tails: new Map((body.streams ?? []).map((s) => [s.path, s.tail_offset])) });
        res.writeHead(200, JSON_TYPE).end('{"done":true}');
        this.#notify?.();
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  /** When the first POST announcing `stream` at `offset` or later arrived; earlier POSTs are dropped. */
  async arrival(stream: string, offset: string): Promise<number> {
    const deadline = performance.now() + DELIVERY_TIMEOUT_MS;
    for (;;) {
      while (this.#queue.length > 0) {
        const d = this.#queue.shift()!;
        const tail = d.tails.get(stream);
        if (tail !== undefined && tail >= offset) return d.at;
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no webhook POST for ${stream} at ${offset} within ${DELIVERY_TIMEOUT_MS} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#notify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#notify = undefined;
    }
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** The acked offset of `stream` in subscription `id`, as GET answers it. */
async function ackedOffset(s: ServerProcess, id: string, stream: string): Promise<string> {
  const r = expectStatus(await s.call('GET', `${ROOT}__ds/subscriptions/${id}`, {}), 200);
  const sub = JSON.parse(r.body.toString('utf8')) as { streams: Array<{ path: string; acked_offset: string }> };
  return sub.streams.find((l) => l.path === stream)?.acked_offset ?? '';
}

/**
 * A contender: a server of `kind` with one stream and one webhook subscription on it, both
 * named for this run. The op appends 100 bytes and measures until the receiver has the POST;
 * then, untimed, waits until the server has taken the receiver's `done` (the stream's acked
 * offset reached the append), so every sample is a fresh wake, not one coalesced into a wake
 * still out.
 */
function contender(kind: Kind, dir: string, run: string): Contender {
  const server = new ServerProcess(kind, dir, ['webhooks']);
  const receiver = new WebhookReceiver();
  const stream = `bench-subscriptions-${run}/${kind}`;
  const id = `bench-${run}-${kind}`;
  let created = false;
  return {
    library: LIBRARY[kind],
    setup: async () => {
      await Promise.all([server.start(), receiver.start()]);
      expectStatus(await server.call('PUT', `${ROOT}${stream}`, TEXT), 201);
      const definition = { type: 'webhook', streams: [stream], webhook: { url: receiver.url }, description: 'stowage bench' };
      expectStatus(await server.call('PUT', `${ROOT}__ds/subscriptions/${id}`, JSON_TYPE, Buffer.from(JSON.stringify(definition))), 201);
      created = true;
      return async () => {
        const t0 = performance.now();
        const r = expectStatus(await server.call('POST', `${ROOT}${stream}`, TEXT, MESSAGE), 204, 200);
        const offset = String(r.headers['stream-next-offset']);
        const latency = (await receiver.arrival(stream, offset)) - t0;
        const deadline = performance.now() + DELIVERY_TIMEOUT_MS;
        while ((await ackedOffset(server, id, stream)) < offset) {
          if (performance.now() > deadline) throw new Error(`${LIBRARY[kind]}: the wake for ${offset} was never acked`);
          await sleep(1);
        }
        return latency;
      };
    },
    teardown: async () => {
      try {
        if (created) {
          expectStatus(await server.call('DELETE', `${ROOT}__ds/subscriptions/${id}`, {}), 204);
          expectStatus(await server.call('GET', `${ROOT}__ds/subscriptions/${id}`, {}), 404);
          expectStatus(await server.call('DELETE', `${ROOT}${stream}`, {}), 204);
          console.log(`  ${LIBRARY[kind]}: ${receiver.count} webhook POSTs; subscription ${id} and its stream deleted`);
        }
      } finally {
        await receiver.close();
        await server.stop();
      }
    },
  };
}

export async function subscriptionsComparisons(): Promise<Comparison[]> {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-bench-subscriptions-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  // Stream and subscription names unique to this run: a server on a shared database never meets an earlier run's.
  const run = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const networked: Kind[] = [];
  for (const k of ['stowage-postgres', 'stowage-redis'] as const) {
    if (await reachable(k, dir)) networked.push(k);
    else console.log(`  (${LIBRARY[k]} skipped: its server is not reachable; set DATABASE_URL / REDIS_URL)`);
  }
  const operation = 'webhook wake (append → receiver has the POST)';
  return [
    {
      contract: 'Durable Streams subscriptions',
      operation,
      backend: 'memory',
      metric: 'latency',
      anchor: contender('reference-memory', dir, run),
      ours: contender('stowage-memory', dir, run),
    },
    {
      contract: 'Durable Streams subscriptions',
      operation,
      backend: 'durable',
      metric: 'latency',
      anchor: contender('reference-file', dir, run),
      ours: contender('stowage-sqlite', dir, run),
      others: networked.map((k) => contender(k, dir, run)),
    },
  ];
}
