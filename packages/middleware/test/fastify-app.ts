// Test helpers for the Fastify plugins: a real Fastify app on 127.0.0.1, and the stores of
// two replicas (two connections to one namespace; memory: one store shared by both).
import type { CsrfTokenStore, IdempotencyStore, SessionStore } from '@stowage/core';
import { freshNamespace, type StoreBackend, type StoreSet } from '@stowage/test-stores';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { RawResponse, Running } from './http.js';

/** Listens on 127.0.0.1 and a free port; `close` drops open connections (a hung handler's too). */
export async function listenFastify(app: FastifyInstance): Promise<Running> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
  return { url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

/** The stores one replica uses. */
export interface ReplicaStores {
  idempotency: IdempotencyStore;
  csrf: CsrfTokenStore;
  sessions: SessionStore;
}

export interface Replicas {
  /** Replica A's set (the one `pause` stops); B has its own connection, except on memory. */
  setA: StoreSet;
  stores: [ReplicaStores, ReplicaStores];
  close(): Promise<void>;
}

/** Two replicas' stores over one namespace: what one writes, the other reads. */
export async function openReplicas(backend: StoreBackend): Promise<Replicas> {
  const namespace = freshNamespace();
  const setA = await backend.open(namespace);
  const make = (set: StoreSet): ReplicaStores => ({ idempotency: set.idempotency(), csrf: set.csrf(), sessions: set.sessions() });
  const a = make(setA);
  if (backend.kind === 'memory') return { setA, stores: [a, a], close: () => setA.close() }; // memory lives in one process
  const setB = await backend.open(namespace);
  return {
    setA,
    stores: [a, make(setB)],
    close: async () => {
      await setA.close();
      await setB.close();
    },
  };
}

/** Retries `call` while it answers 409 (each 409 must say Retry-After); the answer and how many 409s came first. */
export async function untilNot409(
  call: () => Promise<RawResponse>,
  pauseMs = 25,
): Promise<{ answer: RawResponse; conflicts: RawResponse[] }> {
  const conflicts: RawResponse[] = [];
  for (;;) {
    const answer = await call();
    if (answer.status !== 409) return { answer, conflicts };
    conflicts.push(answer);
    await new Promise((r) => setTimeout(r, pauseMs));
  }
}

/** A handler's stream that fails with `error`: after its chunk `first`, or before any byte (5 ms in). */
export const failingStream = (error: Error, first?: string): Readable =>
  Readable.from(
    (async function* () {
      if (first !== undefined) yield first;
      else await new Promise((r) => setTimeout(r, 5));
      throw error;
    })(),
  );

/** `store` as it is, but `complete` answers `ms` later (a store across a network): a wider storing window. */
export const slowComplete = (store: IdempotencyStore, ms: number): IdempotencyStore =>
  new Proxy(store, {
    get(target, name) {
      const value = Reflect.get(target, name);
      if (typeof value !== 'function') return value;
      if (name !== 'complete') return value.bind(target);
      return async (...args: unknown[]) => {
        const result = await value.apply(target, args);
        await new Promise((r) => setTimeout(r, ms));
        return result;
      };
    },
  });
