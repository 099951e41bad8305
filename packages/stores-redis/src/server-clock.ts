import { ErrorSource, ServerClock, steadyNow } from '@stowage/core/adapter-kit';
import { type Connection, connectionOf } from './connection.js';

/** `TIME`'s answer as our clock's offset from it, with our clock (`steadyNow`) read on receipt (so a lower bound). */
const offsetOf = ([seconds, micros]: unknown[]): number => Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - steadyNow();

/**
 * One sample of a client's server clock: `TIME`; on a Cluster, `TIME` of every master and the
 * least offset, since a script may run on any of them.
 */
async function sampleOffset(connection: Connection): Promise<number> {
  return Math.min(...(await connection.times(offsetOf)));
}

/**
 * One {@link ServerClock} per client, shared by every store on it: the offset belongs to the
 * servers the client reaches, so seven stores on one client sample once (one extra round trip
 * on the first call, one `TIME` a minute), and what one store learns from a refusal serves all.
 */
const clocks = new WeakMap<object, ServerClock>();

/** The clock of `client` (an ioredis or node-redis client, see `RedisClient`). */
export function serverClockOf(client: object, connection?: Connection): ServerClock {
  let clock = clocks.get(client);
  if (clock === undefined) {
    const c = connection ?? connectionOf(new ErrorSource('@stowage/stores-redis', 'serverClock'), client);
    clock = new ServerClock(() => sampleOffset(c));
    clocks.set(client, clock);
  }
  return clock;
}
