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
 * through the other. The claim is "within 100 ms": every wake-up is timed, the median must be
 * under 100 ms, and every reader must get exactly the message appended.
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
  expect(median).toBeLessThan(100);
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
