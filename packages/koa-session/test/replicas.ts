import type { SessionStore } from '@stowage/core';
import { freshNamespace, type StoreBackend, type StoreSet } from '@stowage/test-stores';

/** Two replicas' `SessionStore`s over the same data, and the sets behind them. */
export interface Replicas {
  a: SessionStore;
  b: SessionStore;
  /** The set behind replica A (to pause its backend). */
  setA: StoreSet;
  close(): Promise<void>;
}

/**
 * Each replica its own connection on one namespace (its own store object). A memory store
 * lives in one process, so there both replicas share the one store object, as two apps in one
 * process would.
 */
export async function openReplicas(backend: StoreBackend): Promise<Replicas> {
  const ns = freshNamespace();
  if (backend.kind === 'memory') {
    const set = await backend.open(ns);
    const one = set.sessions();
    return { a: one, b: one, setA: set, close: () => set.close() };
  }
  const [setA, setB] = [await backend.open(ns), await backend.open(ns)];
  return {
    a: setA.sessions(),
    b: setB.sessions(),
    setA,
    close: async () => {
      await setB.close();
      await setA.close();
    },
  };
}
