import type { Writable } from 'node:stream';

/**
 * Write coalescing. ioredis writes each command to its socket at once, one system call per
 * command; under load that call is most of a command's cost in Node (and a read per command
 * in Redis). After a command is written, its socket is corked until the end of the tick, so
 * the commands issued after it in that tick leave together in one `writev`, as node-redis
 * does by itself; a lone command never waits. A batch leaves once it holds {@link BATCH}
 * commands, so Redis starts on the first ones while the rest are being issued: one batch of
 * everything in flight would make Node and Redis wait for each other in turn (measured: about
 * a quarter fewer rate-limit calls per second at 64 in flight than with no coalescing). The commands and their order are
 * unchanged, only their packaging into writes.
 */
const BATCH = 16;

/**
 * The ioredis versions this corking was tested on: it uses `stream`, the socket ioredis keeps
 * on each connection, which ioredis does not document (`status` and a Cluster's `nodes()` are
 * documented). The package's peer range admits only these (`~6.0.0`, and 6.0.0 is the only
 * 6.0 release), and `test/coalesce-pin.test.ts` fails when the installed ioredis is another.
 */
export const TESTED_IOREDIS: readonly string[] = ['6.0.0'];

/** The sockets corked in this tick, and how many commands each holds. */
const corked = new Map<Writable, number>();

function uncorkAll(): void {
  for (const stream of corked.keys()) stream.uncork();
  corked.clear();
}

/** Called after a command was written to `stream`. */
function cork(stream: Writable | undefined): void {
  if (stream === undefined || !stream.writable) return;
  const held = corked.get(stream);
  if (held === undefined) {
    // The command went out alone; hold the next ones.
    if (corked.size === 0) process.nextTick(uncorkAll);
    corked.set(stream, 0);
    stream.cork();
  } else if (held + 1 < BATCH) {
    corked.set(stream, held + 1);
  } else {
    // The batch is full: send it (uncork writes what it holds) and start the next.
    stream.uncork();
    stream.cork();
    corked.set(stream, 0);
  }
}

type Connection = { status: string; stream?: Writable };

/** Corks the connection(s) the command just sent by `client` may have gone out on, until the end of this tick. */
export function coalesceWrites(client: object, isCluster: boolean): void {
  if (!isCluster) {
    const c = client as unknown as Connection;
    if (c.status === 'ready') cork(c.stream);
    return;
  }
  // A Cluster picks the node per command: cork every connected node (each counts the call).
  for (const node of (client as { nodes(role: 'all'): unknown[] }).nodes('all') as Connection[]) {
    if (node.status === 'ready') cork(node.stream);
  }
}
