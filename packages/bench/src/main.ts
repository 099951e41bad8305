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
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatTable, runComparison, type Comparison, type Row } from './harness.js';
import { memoryComparisons } from './suites/memory.js';
import { postgresComparisons } from './suites/postgres.js';
import { redisComparisons } from './suites/redis.js';
import { sqliteComparisons } from './suites/sqlite.js';
import { streamsComparisons } from './suites/streams.js';
import { streamsSeekComparisons } from './suites/streams-seek.js';
import { subscriptionsComparisons } from './suites/subscriptions.js';

type Suite = () => Promise<Comparison[]> | Comparison[];

const SUITES: Record<string, Suite> = {
  memory: memoryComparisons,
  sqlite: sqliteComparisons,
  postgres: postgresComparisons,
  redis: redisComparisons,
  streams: streamsComparisons,
  'streams-seek': streamsSeekComparisons,
  subscriptions: subscriptionsComparisons,
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'string' },
      only: { type: 'string' },
      duration: { type: 'string', default: '700' },
      rounds: { type: 'string', default: '3' },
      match: { type: 'string' },
    },
  });
  const names = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(SUITES);
  for (const n of names) if (!SUITES[n]) throw new Error(`unknown suite ${n}; known: ${Object.keys(SUITES).join(', ')}`);
  const options = { durationMs: Number(values.duration), rounds: Number(values.rounds) };
  const rows: Row[] = [];
  console.log(`Stowage bench: node ${process.version}, ${options.rounds} rounds of ${options.durationMs} ms per row (median round)`);
  for (const name of names) {
    console.log(`suite ${name}`);
    const comparisons = (await SUITES[name]!()).filter((c) => values.match === undefined || c.operation.includes(values.match));
    for (const c of comparisons) rows.push(...(await runComparison(c, options, (l) => console.log(l))));
  }
  console.log();
  console.log(formatTable(rows));
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
    console.log(`\nwrote ${rows.length} rows to ${values.json}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
