import type { Redis } from 'ioredis';

/**
 * What Redis servers of the test's own received, from `INFO`, for exact counts. Each `node`
 * is an admin connection of its own (never a store's client).
 */

/** Commands a test or a client sends by itself (stats, pauses, topology, ready checks). */
const ADMIN = new Set(['info', 'config', 'client', 'cluster', 'ping', 'command', 'hello', 'select', 'readonly']);

export async function resetStats(nodes: Redis[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.config('RESETSTAT')));
}

/** Calls per command since the last reset, summed over `nodes`, admin commands left out. */
export async function dataCommands(nodes: Redis[]): Promise<Record<string, number>> {
  const calls: Record<string, number> = {};
  for (const node of nodes) {
    const info = await node.info('commandstats');
    for (const m of info.matchAll(/^cmdstat_([^:|]+)[^:]*:calls=(\d+)/gm)) {
      if (ADMIN.has(m[1]!)) continue;
      calls[m[1]!] = (calls[m[1]!] ?? 0) + Number(m[2]);
    }
  }
  return calls;
}

/** Error replies starting with `prefix` (e.g. `STOWAGE_LATE`) since the last reset, summed over `nodes`. */
export async function errorReplies(nodes: Redis[], prefix: string): Promise<number> {
  let total = 0;
  for (const node of nodes) {
    const m = new RegExp(`^errorstat_${prefix}:count=(\\d+)`, 'm').exec(await node.info('errorstats'));
    total += m === null ? 0 : Number(m[1]);
  }
  return total;
}

/**
 * Script runs that executed (`EVAL` and `EVALSHA` but for those answered `NOSCRIPT`) and error
 * replies starting with `prefix`, summed over `nodes`. Each node's pair comes from one `INFO`,
 * so a run still arriving (an `EVAL` sent again after a late `NOSCRIPT`) is in both or neither.
 */
export async function scriptOutcomes(nodes: Redis[], prefix: string): Promise<{ runs: number; replies: number }> {
  let runs = 0;
  let replies = 0;
  const count = (info: string, re: RegExp) => Number(re.exec(info)?.[1] ?? 0);
  for (const node of nodes) {
    const info = String(await node.call('INFO', 'commandstats', 'errorstats'));
    runs += count(info, /^cmdstat_eval:calls=(\d+)/m) + count(info, /^cmdstat_evalsha:calls=(\d+)/m);
    runs -= count(info, /^errorstat_NOSCRIPT:count=(\d+)/m);
    replies += count(info, new RegExp(`^errorstat_${prefix}:count=(\\d+)`, 'm'));
  }
  return { runs, replies };
}

/** Holds every client's write commands (scripts included) on each node for `ms`; `ALL` holds reads too. */
export async function pause(nodes: Redis[], ms: number, mode: 'WRITE' | 'ALL' = 'WRITE'): Promise<void> {
  await Promise.all(nodes.map((n) => n.call('CLIENT', 'PAUSE', String(ms), mode)));
}

/** Script runs (`EVAL` and `EVALSHA`, refused ones included) since the last reset, summed over `nodes`. */
export async function scriptRuns(nodes: Redis[]): Promise<number> {
  const calls = await dataCommands(nodes);
  return (calls.eval ?? 0) + (calls.evalsha ?? 0);
}

/**
 * `TIME` commands sent by clients (the stores' clock samples) since the last reset, summed
 * over `nodes`. `INFO commandstats` also counts the commands scripts call, and every script
 * run calls `TIME` exactly once (`lib.lua`), so script runs are subtracted.
 */
export async function clockSamples(nodes: Redis[]): Promise<number> {
  const calls = await dataCommands(nodes);
  return (calls.time ?? 0) - (calls.eval ?? 0) - (calls.evalsha ?? 0);
}
