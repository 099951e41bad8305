import type { Connection } from './connection.js';

/** Whether a client is known to be disconnected; see {@link reachabilityOf}. */
export interface Reachability {
  /** A connect attempt failed since the client was last ready, and it is not ready now. */
  down(): boolean;
}

interface Emitter {
  on(event: string, listener: () => void): unknown;
}

const NEVER: Reachability = { down: () => false };
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
 * One watcher per client, shared by its stores.
 */
export function reachabilityOf(client: object, connection: Connection): Reachability {
  if (connection.isCluster) return NEVER;
  let r = watched.get(client);
  if (r === undefined) {
    let seenReady = connection.state() === 'ready';
    let reconnects = 0;
    let failed = false;
    const events = client as Emitter;
    events.on('ready', () => {
      seenReady = true;
      reconnects = 0;
      failed = false;
    });
    events.on('reconnecting', () => {
      reconnects++;
      if (reconnects >= (seenReady ? 2 : 1)) failed = true;
    });
    r = { down: () => failed && connection.state() !== 'ready' };
    watched.set(client, r);
  }
  return r;
}
