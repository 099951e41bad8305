#!/usr/bin/env node
/**
 * Soak: the Durable Streams server and every contract's store on one backend, 64 calls in
 * flight, a mixed workload whose records expire within seconds (expiry churn), sampled
 * every few seconds. Exits non-zero when a backend breaks the rule of `judge` (run.ts).
 *
 *   npm run soak -- --minutes 10                          every backend, one after the other
 *   npm run soak -- --minutes 2 --backend sqlite,redis --json packages/bench/results/soak.json
 *   npm run soak -- --from packages/bench/results/soak.json   the summary of a saved run, judged again
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { type Backend, BACKENDS } from '../scale/targets.js';
import { assess, runSoak, type SoakReport } from './run.js';

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

function summary(r: SoakReport): string {
  const lines = [
    `${r.backend}: ${r.totalOps} calls in ${(r.durationMs / 60_000).toFixed(1)} min (${Math.round(r.totalOps / (r.durationMs / 1000))}/s), ${r.errors} errors`,
  ];
  for (const [k, g] of Object.entries(r.growth)) {
    const fmt = k === 'heapUsed' || k === 'rss' || k === 'bytes' ? mib : String;
    lines.push(`  ${k}: ${fmt(g.first)} -> ${fmt(g.last)} (max ${fmt(g.max)}, ${(g.growth * 100).toFixed(1)}%)`);
  }
  for (const e of r.firstErrors) lines.push(`  error: ${e}`);
  lines.push(r.failures.length === 0 ? '  PASS' : `  FAIL: ${r.failures.join('; ')}`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      backend: { type: 'string', default: BACKENDS.join(',') },
      concurrency: { type: 'string', default: '64' },
      'sample-seconds': { type: 'string', default: '5' },
      json: { type: 'string' },
      from: { type: 'string' },
    },
  });
  if (values.from) {
    const saved = JSON.parse(readFileSync(values.from, 'utf8')) as { reports: SoakReport[] };
    for (const r of saved.reports) Object.assign(r, assess(r.backend, r.samples, r.durationMs / 5, r.errors, r.totalOps));
    console.log(saved.reports.map(summary).join('\n'));
    if (values.json) writeFileSync(values.json, `${JSON.stringify(saved, null, 2)}\n`);
    return saved.reports.some((r) => r.failures.length > 0) ? 1 : 0;
  }
  const backends = values.backend.split(',').map((s) => s.trim()) as Backend[];
  for (const b of backends) if (!BACKENDS.includes(b)) throw new Error(`unknown backend ${b}; known: ${BACKENDS.join(', ')}`);
  const durationMs = Number(values.minutes) * 60_000;
  const reports: SoakReport[] = [];
  const meta = { node: process.version, cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), date: new Date().toISOString() };
  for (const backend of backends) {
    console.log(`soak ${backend}, ${values.minutes} min, ${values.concurrency} in flight`);
    const r = await runSoak({
      backend,
      durationMs,
      concurrency: Number(values.concurrency),
      sampleMs: Number(values['sample-seconds']) * 1000,
      log: (l) => console.log(l),
    });
    reports.push(r);
    console.log(summary(r));
    if (values.json) writeFileSync(values.json, `${JSON.stringify({ meta, argv: process.argv.slice(2), reports }, null, 2)}\n`);
  }
  console.log(`\n${reports.map(summary).join('\n')}`);
  return reports.some((r) => r.failures.length > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
