import { Agent, request } from 'node:http';
import { jsonCodec, type RateLimitPolicy } from '@stowage/core';
import { responseBody, sessionObject } from '../suites/data.js';
import type { SoakStores } from './stores.js';

/** The kinds of call the soak makes; each worker draws one at random per turn. */
export const KINDS = [
  'session set',
  'session get',
  'session destroy',
  'rate-limit consume',
  'idempotency reserve + complete',
  'csrf issue + validate',
  'lock acquire + release',
  'jwks put + get',
  'stream append (HTTP)',
  'stream read (HTTP)',
] as const;
export type Kind = (typeof KINDS)[number];

/** Short lives everywhere, so records expire and are pruned all through the run (expiry churn). */
const TTL_MS = 3000;
const SESSION_IDS = 5000;
const RL_KEYS = 5000;
const LOCK_NAMES = 200;
const JWKS_URIS = 100;
const STREAM_SLOTS = 32;
/** A stream is appended to for one generation, then left to expire by its Stream-TTL. */
const STREAM_GENERATION_MS = 5000;
const STREAM_TTL_S = 8;
const POLICY: RateLimitPolicy = { algorithm: 'fixed-window', limit: 100, windowMs: 2000 };
const SESSION = jsonCodec.encode(sessionObject(), 'soak');
const RESPONSE = {
  status: 201,
  headers: [['content-type', 'application/json']] as [string, string][],
  body: jsonCodec.encode(responseBody(), 'r'),
};
const MESSAGE = Buffer.alloc(100, 'x');
const JWKS = JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'soak' }] });

export interface Tally {
  ops: Record<Kind, number>;
  errors: number;
  /** The first few errors, for the report. */
  firstErrors: string[];
}

export function newTally(): Tally {
  return { ops: Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>, errors: 0, firstErrors: [] };
}

interface Reply {
  status: number;
  body: Buffer;
}

/** HTTP to the streams server over keep-alive connections. */
export class StreamsClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly created = new Set<string>();
  constructor(private readonly base: string) {}

  call(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, this.base), { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The stream of a slot in the current generation, created (with its TTL) on first use. */
  async stream(slot: number): Promise<string> {
    const path = `/soak/g${Math.floor(Date.now() / STREAM_GENERATION_MS)}-s${slot}`;
    if (!this.created.has(path)) {
      const r = await this.call('PUT', path, { 'Content-Type': 'text/plain', 'Stream-TTL': String(STREAM_TTL_S) });
      if (r.status !== 201 && r.status !== 200) throw new Error(`PUT ${path}: ${r.status} ${r.body.toString()}`);
      this.created.add(path);
      // Names of past generations are not needed again: the set stays bounded.
      if (this.created.size > STREAM_SLOTS * 4) for (const p of [...this.created].slice(0, STREAM_SLOTS)) this.created.delete(p);
    }
    return path;
  }

  close(): void {
    this.agent.destroy();
  }
}

const pick = (n: number) => Math.floor(Math.random() * n);

/** One call of `kind`; throws on any error or any answer the contract rules out. */
export async function callOnce(kind: Kind, s: SoakStores, http: StreamsClient, seq: number): Promise<void> {
  switch (kind) {
    case 'session set':
      await s.sessions.set(`sid-${pick(SESSION_IDS)}`, SESSION, { ttlMs: TTL_MS });
      return;
    case 'session get':
      await s.sessions.get(`sid-${pick(SESSION_IDS)}`);
      return;
    case 'session destroy':
      await s.sessions.destroy(`sid-${pick(SESSION_IDS)}`);
      return;
    case 'rate-limit consume':
      await s.rateLimit.consume(`ip-${pick(RL_KEYS)}`, POLICY);
      return;
    case 'idempotency reserve + complete': {
      const key = `req-${seq}-${Math.random().toString(36).slice(2)}`;
      const r = await s.idempotency.reserve('soak', key, 'fp', { leaseMs: TTL_MS });
      if (r.state !== 'reserved') throw new Error(`reserve of a new key: ${r.state}`);
      if (!(await s.idempotency.complete('soak', key, r.token, RESPONSE, { retentionMs: TTL_MS }))) throw new Error('complete refused');
      return;
    }
    case 'csrf issue + validate': {
      const sid = `sid-${pick(SESSION_IDS)}`;
      const token = await s.csrf.issue(sid, { ttlMs: TTL_MS });
      if (!(await s.csrf.validate(sid, token))) throw new Error('a fresh CSRF token did not validate');
      return;
    }
    case 'lock acquire + release': {
      const name = `job-${pick(LOCK_NAMES)}`;
      const lease = await s.locks.acquire(name, { ttlMs: TTL_MS });
      if (lease && !(await s.locks.release(name, lease.token))) throw new Error('release of a held lease refused');
      return;
    }
    case 'jwks put + get': {
      const uri = `https://issuer-${pick(JWKS_URIS)}.example/.well-known/jwks.json`;
      await s.jwks.put(uri, JWKS, { fetchedAt: Date.now(), ttlMs: TTL_MS });
      await s.jwks.get(uri);
      return;
    }
    case 'stream append (HTTP)': {
      const path = await http.stream(pick(STREAM_SLOTS));
      const r = await http.call('POST', path, { 'Content-Type': 'text/plain' }, MESSAGE);
      if (r.status !== 204 && r.status !== 200) throw new Error(`POST ${path}: ${r.status} ${r.body.toString()}`);
      return;
    }
    case 'stream read (HTTP)': {
      const path = await http.stream(pick(STREAM_SLOTS));
      const r = await http.call('GET', `${path}?offset=-1`, {});
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body.toString()}`);
      if (r.body.length % MESSAGE.length !== 0) throw new Error(`GET ${path}: ${r.body.length} bytes, not whole messages`);
      return;
    }
  }
}

/** `concurrency` callers, each drawing kinds at random until `stop()` is true. */
export async function runWorkers(
  s: SoakStores,
  http: StreamsClient,
  concurrency: number,
  tally: Tally,
  stop: () => boolean,
): Promise<void> {
  let seq = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!stop()) {
        const kind = KINDS[pick(KINDS.length)]!;
        try {
          await callOnce(kind, s, http, seq++);
          tally.ops[kind]++;
        } catch (err) {
          tally.errors++;
          if (tally.firstErrors.length < 5) tally.firstErrors.push(`${kind}: ${err instanceof Error ? err.message : String(err)}`);
        }
        // A caller of a store that answers at once (memory) still lets timers and I/O run.
        if (seq % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
}
