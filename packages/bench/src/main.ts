#!/usr/bin/env node
/**
 * Runs Stowage stores beside the libraries users would pick instead, in one process and one
 * run, and prints ops/s, p50/p99 latency and the ratio to the alternative.
 *
 *   npm run bench                         every suite
 *   npm run bench -- --only memory        some suites (comma-separated)
 *   npm run bench -- --json rows.json     also write every row as JSON
 *   npm run bench -- --duration 500 --rounds 3
 *   npm run bench -- --only streams --match catch-up   only rows whose operation contains the text
 *   npm run bench -- --only fanout --readers 10000      live readers woken by one append (own table)
 *   npm run bench -- --only redis-coalesce   our ioredis rows: socket corking vs enableAutoPipelining vs neither
 *   npm run bench -- --only redis --load 64   one load shape only (serial, or 64 in flight)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { clientRatios, formatClientRatios } from './client-ratios.js';
import { formatTable, LOAD_SHAPES, runComparison, type Comparison, type Row } from './harness.js';
import { formatServerCpu } from './server-cpu.js';
import { memoryComparisons } from './suites/memory.js';
import { postgresComparisons } from './suites/postgres.js';
import { redisComparisons, redisGoal } from './suites/redis.js';
import { coalesceRatios, redisCoalesceComparisons } from './suites/redis-coalesce.js';
import { sqliteComparisons } from './suites/sqlite.js';
import { streamsComparisons } from './suites/streams.js';
import { fanoutRows, formatFanout } from './suites/fanout.js';
import { seekRatios, streamsSeekComparisons } from './suites/streams-seek.js';
import { subscriptionsComparisons } from './suites/subscriptions.js';
import { telemetryComparisons } from './suites/telemetry.js';

type Suite = () => Promise<Comparison[]> | Comparison[];

/** A wrong command line: said in one line with the usage. */
class UsageError extends Error {}

const USAGE = `Usage: npm run bench -- [options]   (or node packages/bench/dist/main.js [options])

  --only SUITES     comma-separated suites (default: all but fanout): memory, sqlite, postgres,
                    redis, redis-coalesce, streams, streams-seek, subscriptions, telemetry, fanout
  --match TEXT      only rows whose operation contains TEXT (e.g. catch-up, "1000 × 100")
  --load SHAPE      one load shape only: serial or 64 (default: both)
  --duration MS     length of a timed round (default: 700)
  --rounds N        rounds per row; the median round is reported (default: 3)
  --readers N       fanout: live readers woken by one append (default: 10000)
  --json FILE       also write every row as JSON
  --help            this text

PostgreSQL and Redis rows use DATABASE_URL and REDIS_URL (default: postgres://postgres@127.0.0.1:5432/test
and redis://127.0.0.1:6379).`;

const SUITES: Record<string, Suite> = {
  memory: memoryComparisons,
  sqlite: sqliteComparisons,
  postgres: postgresComparisons,
  redis: redisComparisons,
  'redis-coalesce': redisCoalesceComparisons,
  streams: streamsComparisons,
  'streams-seek': streamsSeekComparisons,
  subscriptions: subscriptionsComparisons,
  telemetry: telemetryComparisons,
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean' },
      json: { type: 'string' },
      only: { type: 'string' },
      duration: { type: 'string', default: '700' },
      rounds: { type: 'string', default: '3' },
      match: { type: 'string' },
      readers: { type: 'string', default: '10000' },
      load: { type: 'string' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  // fan-out has its own table (answered counts, memory per reader): only when asked for.
  const names = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(SUITES);
  for (const n of names) {
    if (!SUITES[n] && n !== 'fanout') throw new UsageError(`unknown suite ${n}; known: ${[...Object.keys(SUITES), 'fanout'].join(', ')}`);
  }
  // --load serial, or --load 64: one load shape only.
  const loads =
    values.load === undefined ? undefined : LOAD_SHAPES.filter((l) => l.shape === values.load || `${l.concurrency}` === values.load);
  if (loads?.length === 0) throw new UsageError(`unknown load ${values.load}; known: serial, 64`);
  const options = { durationMs: Number(values.duration), rounds: Number(values.rounds), loads: loads?.map((l) => l.shape) };
  const rows: Row[] = [];
  console.log(`Stowage bench: node ${process.version}, ${options.rounds} rounds of ${options.durationMs} ms per row (median round)`);
  let fanout = '';
  for (const name of names) {
    console.log(`suite ${name}`);
    if (name === 'fanout') {
      const log = (l: string) => console.log(l);
      fanout = formatFanout(await fanoutRows({ readers: Number(values.readers), match: values.match, log }));
      continue;
    }
    const comparisons = (await SUITES[name]!()).filter((c) => values.match === undefined || c.operation.includes(values.match));
    for (const c of comparisons) {
      // One comparison that fails (a server gone, a store timing out under load) does not lose the others' rows.
      try {
        rows.push(...(await runComparison(c, options, (l) => console.log(l))));
      } catch (err) {
        console.log(`  ${c.contract} ${c.operation} [${c.backend}] failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exitCode = 1;
      }
    }
  }
  console.log();
  if (rows.length > 0) console.log(formatTable(rows));
  const serverCpu = formatServerCpu(rows);
  if (serverCpu !== undefined)
    console.log(`\nServer process CPU time per op (ratio: the anchor's over each row's, higher is better):\n${serverCpu}`);
  const ratios = seekRatios(rows);
  if (ratios.length > 0) console.log(`\n${ratios.join('\n')}`);
  const perClient = clientRatios(rows);
  if (perClient.length > 0)
    console.log(`\nOurs over the anchor and the raw ceiling of the same client:\n${formatClientRatios(perClient, redisGoal)}`);
  const coalesce = coalesceRatios(rows);
  if (coalesce.length > 0) console.log(`\nWrite coalescing on ioredis (ops/s ratios, same run):\n${coalesce.join('\n')}`);
  if (fanout !== '') console.log(`\n${fanout}`);
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
    console.log(`\nwrote ${rows.length} rows to ${values.json}`);
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    // A wrong option is one line and the usage, not a stack.
    if (err instanceof UsageError || (err instanceof Error && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')))
      console.error(`${err.message}\n\n${USAGE}`);
    else console.error(err);
    process.exit(1);
  },
);
