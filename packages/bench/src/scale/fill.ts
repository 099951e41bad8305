#!/usr/bin/env node
/**
 * The memory store filling up: sessions and rate-limit keys written in pairs, serially, and per
 * tenth of the run the slowest call and the longest garbage-collection pause (`gc` performance
 * entries) seen in it. A stall of the process shows as a slow call with no pause to match (the
 * observer reports a pause on a later turn: it can land in the next row; the last line compares
 * the run's slowest call with its longest pause).
 *
 *   npm run bench:fill -- --keys 3e6
 */
import { constants, PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { MemoryRateLimitStore, MemorySessionStore } from '@stowage/stores-memory';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '3e6' } } });
const total = Number(values.keys);
const step = Math.max(1, Math.floor(total / 10));
const data = new Uint8Array(64).fill(97);
const sessions = new MemorySessionStore({});
const limits = new MemoryRateLimitStore({});
const policy = { algorithm: 'gcra', limit: 100, windowMs: 60_000 } as const;

let pauseMax = 0;
let pauseMajorMax = 0;
let runPauseMax = 0;
let runSlowest = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    pauseMax = Math.max(pauseMax, e.duration);
    runPauseMax = Math.max(runPauseMax, e.duration);
    if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
      pauseMajorMax = Math.max(pauseMajorMax, e.duration);
  }
}).observe({ entryTypes: ['gc'] });

console.log('| keys of each | heap MiB | slowest call ms | longest GC pause ms (major) | s for the step |');
console.log('|---:|---:|---:|---:|---:|');
let slowest = 0;
let t0 = performance.now();
for (let i = 0; i < total; i++) {
  const a = performance.now();
  await sessions.set(`session-id-${i.toString(36).padStart(18, '0')}`, data, { ttlMs: 86_400_000 });
  await limits.consume(`key-${i}`, policy);
  slowest = Math.max(slowest, performance.now() - a);
  runSlowest = Math.max(runSlowest, slowest);
  if ((i + 1) % step === 0) {
    // A turn of the event loop, so the observer reports the step's pauses.
    await new Promise((resolve) => setImmediate(resolve));
    const heap = Math.round(process.memoryUsage().heapUsed / 2 ** 20);
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(`| ${i + 1} | ${heap} | ${slowest.toFixed(1)} | ${pauseMax.toFixed(1)} (${pauseMajorMax.toFixed(1)}) | ${s} |`);
    slowest = 0;
    pauseMax = 0;
    pauseMajorMax = 0;
    t0 = performance.now();
  }
}
await new Promise((resolve) => setImmediate(resolve));
console.log(`\nslowest call ${runSlowest.toFixed(1)} ms; longest GC pause ${runPauseMax.toFixed(1)} ms`);
await sessions.close();
await limits.close();
