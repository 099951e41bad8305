import { errorMonitor } from 'node:events';
import type { Connection } from './connection.js';

/** Whether a client is known to be disconnected; see {@link reachabilityOf}. */
export interface Reachability {
  /** A connect attempt failed since the client was last ready, and it is not ready now. */
  down(): boolean;
  /** The client's last error since it was last ready, if it told one. */
  cause(): unknown;
  /** Calls `listener` each time the client becomes known down; returns the function that stops it. */
  onDown(listener: () => void): () => void;
}

interface Emitter {
  on(event: string | symbol, listener: (err?: unknown) => void): unknown;
}

const NEVER: Reachability = { down: () => false, cause: () => undefined, onDown: () => () => {} };
const watched = new WeakMap<object, Reachability>();

/**
 * Watches a client of one server by two events both drivers document: `ready` (connected,
 * commands go out) and `reconnecting` (the connection was lost or a connect attempt failed,
 * another attempt follows). After `ready`, the first `reconnecting` is the loss (a short blip,
 * whose first attempt may well succeed); each one after it follows a failed attempt. Before
 * any `ready` was seen (the client was not ready when watching began), the first one does.
 * So the client is known down from that `reconnecting` to the next `ready`: a store's calls
 * then fail at once (`UNAVAILABLE`, nothing sent) instead of waiting in the client's offline
 * queue for their deadline. A Cluster (its nodes come and go one by one) is never known down.
 * One watcher per client, shared by its stores. Its errors are heard through Node's
 * `errorMonitor`, which changes nothing of how the client handles them (ioredis emits them
 * only to a listener of the user's), so the call's error can say why (a refused login...).
 */
export function reachabilityOf(client: object, connection: Connection): Reachability {
  if (connection.isCluster) return NEVER;
  let r = watched.get(client);
  if (r === undefined) {
    let seenReady = connection.state() === 'ready';
    let reconnects = 0;
    let failed = false;
    let cause: unknown;
    const listeners = new Set<() => void>();
    const events = client as Emitter;
    events.on('ready', () => {
      seenReady = true;
      reconnects = 0;
      failed = false;
      cause = undefined;
    });
    events.on(errorMonitor, (err) => {
      cause = err;
    });
    events.on('reconnecting', () => {
      reconnects++;
      if (failed || reconnects < (seenReady ? 2 : 1)) return;
      failed = true;
      for (const listener of [...listeners]) listener();
    });
    r = {
      down: () => failed && connection.state() !== 'ready',
      cause: () => cause,
      onDown: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    watched.set(client, r);
  }
  return r;
}
