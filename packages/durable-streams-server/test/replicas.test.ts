import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeBackends, imagesForAppSuites, postgresBackends, redisBackends } from '@stowage/conformance/backends';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess } from './cli-process.js';
import { randomSuffix } from './helpers.js';

/**
 * Two server processes on one store: a reader long-polling on one is woken by an append made
 * through the other, and gets exactly the message appended. Every wake-up is timed and the
 * median printed (tens of ms when idle); the bound asserted is no speed claim, which a loaded
 * machine could not keep: it only tells a wake-up from the paths without one, a long-poll that
 * runs to its 20 s timeout (a 204) or, on PostgreSQL, waiters polling every 500 ms while LISTEN
 * is down, which the reader's log would show.
 */
async function wakeAcrossReplicas(store: string): Promise<number[]> {
  const a = new CliProcess(['--store', store, '--quiet']);
  const b = new CliProcess(['--store', store, '--quiet']);
  try {
    const [writer, reader] = await Promise.all([a.url, b.url]);
    const path = `/replicas/${randomSuffix()}`;
    const created = await fetch(`${writer}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
    expect(created.status).toBe(201);
    let tail = created.headers.get('stream-next-offset')!;
    const latencies: number[] = [];
    for (let k = 0; k < 20; k++) {
      const poll = fetch(`${reader}${path}?offset=${tail}&live=long-poll`);
      await sleep(60); // the reader is waiting (its first read found nothing)
      const t0 = performance.now();
      const appended = await fetch(`${writer}${path}`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: `m${k}` });
      expect(appended.status).toBe(204);
      const woke = await poll;
      latencies.push(performance.now() - t0);
      expect(woke.status).toBe(200);
      expect(await woke.text()).toBe(`m${k}`);
      tail = woke.headers.get('stream-next-offset')!;
      expect(tail).toBe(appended.headers.get('stream-next-offset'));
    }
    // PostgreSQL: the reader's LISTEN never went down, so no wake-up came from its fallback poll.
    expect(b.logLines().filter((l) => l['operation'] === 'listen')).toEqual([]);
    return latencies;
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

function report(label: string, latencies: number[]): void {
  const sorted = [...latencies].sort((x, y) => x - y);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(
    `${label}: wake-up across replicas, median ${median.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms (n=${sorted.length})`,
  );
  expect(median).toBeLessThan(1000);
}

describeBackends(await postgresBackends(imagesForAppSuites('postgres')), (backend) => {
  it('a long-poll on one replica wakes on an append made through the other', async () => {
    report(`postgres ${backend.name}`, await wakeAcrossReplicas(backend.url));
  }, 60_000);
});

describeBackends(await redisBackends(imagesForAppSuites('redis')), (backend) => {
  it('a long-poll on one replica wakes on an append made through the other', async () => {
    report(`redis ${backend.name}`, await wakeAcrossReplicas(backend.url));
  }, 60_000);
});

describe('two replicas on one SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-replicas-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('a long-poll on one replica wakes on an append made through the other (data_version polling)', async () => {
    report('sqlite file', await wakeAcrossReplicas(`sqlite:${join(dir, 'streams.db')}`));
  }, 60_000);
});
