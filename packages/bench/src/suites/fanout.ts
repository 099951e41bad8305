import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkDescriptors, type LiveMode, openReaders } from './fanout-readers.js';
import { expectStatus, type Kind, LIBRARY, reachable, ServerProcess, type ServerUsage } from './server-process.js';

/**
 * Fan-out: `readers` live readers (long-poll, then SSE) wait at the tail of one stream of a
 * server in its own process; once the server is idle (they all wait), one append of 100 B.
 * Per reader, the time from the append request to the append's bytes reaching it: p50, p99 and
 * max, and how many got them (all of them, or the row says how many did not). Memory per
 * waiting reader: the server process's RSS and heap (after a full GC) with every reader
 * waiting, less before they came, over `readers`. The reference server runs the same rows.
 */

const TEXT = { 'Content-Type': 'text/plain' };
const LONG_POLL_MS = 120_000;
/** Longest wait for the server to fall idle once every reader has asked (they must all be waiting before the append). */
const SETTLE_MS = 40_000;
/** Longest wait, after the append, for every reader's answer. */
const ANSWER_MS = 30_000;

export interface FanoutRow {
  server: string;
  mode: LiveMode;
  readers: number;
  answered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  rssPerReader: number;
  heapPerReader: number;
  /** The server's CPU time from the append until every reader was answered, ms. */
  wakeCpuMs: number;
  /** Readers not answered, by what they got instead (empty when all were). */
  unanswered: string;
}

export interface FanoutOptions {
  readers: number;
  /** Only rows whose server and mode (`stowage + MemoryStreamStore sse`) contain this text (or one of `a|b`). */
  match?: string;
  log(line: string): void;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** Waits until the server has spent under 10 % of a core over 250 ms (every reader registered), at most `maxMs`. */
async function idle(s: ServerProcess, maxMs: number): Promise<void> {
  const end = performance.now() + maxMs;
  let last = await s.usage();
  while (performance.now() < end) {
    await sleep(250);
    const now = await s.usage();
    if (now.cpuMs - last.cpuMs < 25) return;
    last = now;
  }
}

/** PUT a stream; its tail offset. */
async function create(s: ServerProcess, path: string): Promise<string> {
  return String(expectStatus(await s.call('PUT', path, TEXT), 201, 200).headers['stream-next-offset']);
}

/** One append of a 100 B message holding `marker`. */
function message(marker: string): Buffer {
  return Buffer.from(marker.padEnd(100, 'x'));
}

async function fanout(s: ServerProcess, mode: LiveMode, readers: number): Promise<Omit<FanoutRow, 'server' | 'mode'>> {
  // Warm-up: a few readers woken once, so the first wake of the measured ones is not also the JIT's.
  const warm = '/bench/fanout-warm';
  const warmMarker = `warm-${randomBytes(6).toString('hex')}`;
  const w = await openReaders(s.url, `${warm}?offset=${encodeURIComponent(await create(s, warm))}`, mode, 50, warmMarker);
  await idle(s, 5_000);
  w.armed(performance.now());
  expectStatus(await s.call('POST', warm, TEXT, message(warmMarker)), 204, 200);
  await w.done(5_000);
  w.close();

  const path = '/bench/fanout';
  const tail = await create(s, path);
  await sleep(200);
  const before: ServerUsage = await s.usage(true);
  const marker = `fanout-${randomBytes(6).toString('hex')}`;
  const r = await openReaders(s.url, `${path}?offset=${encodeURIComponent(tail)}`, mode, readers, marker);
  try {
    // The append must come well before the first reader's long-poll times out.
    await idle(s, SETTLE_MS);
    const waiting = await s.usage(true);
    const cpu = (await s.usage()).cpuMs;
    const t0 = performance.now();
    r.armed(t0);
    const append = s.call('POST', path, TEXT, message(marker));
    await r.done(ANSWER_MS);
    const after = await s.usage();
    expectStatus(await append, 204, 200);
    const times = [...r.answered()].sort((a, b) => a - b);
    return {
      readers,
      answered: times.length,
      p50Ms: percentile(times, 0.5),
      p99Ms: percentile(times, 0.99),
      maxMs: times.length === 0 ? Number.NaN : times[times.length - 1]!,
      rssPerReader: (waiting.rss - before.rss) / readers,
      heapPerReader: (waiting.heapUsed - before.heapUsed) / readers,
      wakeCpuMs: after.cpuMs - cpu,
      unanswered: [...r.unanswered()].map(([what, n]) => `${n} ${what}`).join('; '),
    };
  } finally {
    r.close();
  }
}

/** Runs every server × mode; the rows in the order run. */
export async function fanoutRows(o: FanoutOptions): Promise<FanoutRow[]> {
  checkDescriptors(o.readers);
  // Long-polls that outlive connecting and settling 10,000 readers on a loaded machine (both servers).
  process.env.BENCH_LONG_POLL_MS = String(LONG_POLL_MS);
  const dir = mkdtempSync(join(tmpdir(), 'stowage-bench-fanout-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const kinds: Kind[] = ['reference-memory', 'stowage-memory', 'reference-file', 'stowage-sqlite'];
  for (const k of ['stowage-postgres', 'stowage-redis'] as const) {
    if (await reachable(k, dir)) kinds.push(k);
    else o.log(`  (${LIBRARY[k]} skipped: its server is not reachable; set DATABASE_URL / REDIS_URL)`);
  }
  const rows: FanoutRow[] = [];
  for (const mode of ['long-poll', 'sse'] as const) {
    for (const kind of kinds) {
      const label = `${LIBRARY[kind]} ${mode}`;
      if (o.match !== undefined && !o.match.split('|').some((m) => label.includes(m))) continue;
      const s = new ServerProcess(kind, dir, [], ['--expose-gc']);
      await s.start();
      try {
        const row = { server: LIBRARY[kind], mode, ...(await fanout(s, mode, o.readers)) };
        rows.push(row);
        const missed = row.unanswered === '' ? '' : ` (not answered: ${row.unanswered})`;
        o.log(
          `  fan-out ${o.readers} ${mode} readers [${row.server}] done: ${row.answered} answered${missed}, p99 ${row.p99Ms.toFixed(0)} ms`,
        );
      } finally {
        await s.stop();
      }
    }
  }
  return rows;
}

/** A fixed-width table of fan-out rows. */
export function formatFanout(rows: FanoutRow[]): string {
  const head = ['server', 'mode', 'readers', 'answered', 'p50 ms', 'p99 ms', 'max ms', 'RSS/reader', 'heap/reader', 'wake CPU ms'];
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const body = rows.map((r) => [
    r.server,
    r.mode,
    r.readers.toLocaleString('en-US'),
    r.answered.toLocaleString('en-US'),
    r.p50Ms.toFixed(0),
    r.p99Ms.toFixed(0),
    r.maxMs.toFixed(0),
    kib(r.rssPerReader),
    kib(r.heapPerReader),
    r.wakeCpuMs.toFixed(0),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}
