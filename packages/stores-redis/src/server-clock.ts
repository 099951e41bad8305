import { ServerClock } from '@stowage/core/adapter-kit';
import type { Cluster, Redis } from 'ioredis';
import type { RedisClient } from './base.js';

/** `TIME`'s answer as our clock's offset from it, with `Date.now()` read on receipt (so a lower bound). */
const offsetOf = ([seconds, micros]: unknown[]): number => Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - Date.now();

/**
 * One sample of a client's server clock: `TIME`; on a Cluster, `TIME` of every master and the
 * least offset, since a script may run on any of them.
 */
async function sampleOffset(client: RedisClient): Promise<number> {
  if ((client as { isCluster?: boolean }).isCluster !== true) return (client as Redis).time().then(offsetOf);
  const cluster = client as Cluster;
  let masters = cluster.nodes('master');
  if (masters.length === 0) {
    // Not connected yet: a keyless command waits in the offline queue until the slots are known.
    const first = await cluster.time().then(offsetOf);
    masters = cluster.nodes('master');
    if (masters.length === 0) return first;
  }
  return Math.min(...(await Promise.all(masters.map((node) => node.time().then(offsetOf)))));
}

/**
 * One {@link ServerClock} per client, shared by every store on it: the offset belongs to the
 * servers the client reaches, so seven stores on one client sample once (one extra round trip
 * on the first call, one `TIME` a minute), and what one store learns from a refusal serves all.
 */
const clocks = new WeakMap<RedisClient, ServerClock>();

export function serverClockOf(client: RedisClient): ServerClock {
  let clock = clocks.get(client);
  if (clock === undefined) {
    clock = new ServerClock(() => sampleOffset(client));
    clocks.set(client, clock);
  }
  return clock;
}
