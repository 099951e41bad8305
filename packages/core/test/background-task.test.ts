import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { repeatInBackground } from '../src/background-task.js';

describe('repeatInBackground', () => {
  it('skips the ticks that come while a run is still going: one run at a time, then on again', async () => {
    let runs = 0;
    let finish = (): void => {};
    const reports: string[] = [];
    const task = repeatInBackground(
      () => {
        runs++;
        return new Promise<void>((resolve) => (finish = resolve));
      },
      5,
      (err, operation) => void reports.push(`${operation} ${String(err)}`),
      'prune',
    );
    try {
      await sleep(200); // about 40 ticks
      expect(runs).toBe(1);
      finish();
      for (let i = 0; i < 200 && runs < 2; i++) await sleep(5);
      expect(runs).toBe(2);
      expect(reports).toEqual([]);
    } finally {
      finish(); // the second run's
      await task.stop();
    }
  });

  it('reports a run that rejects or throws, and runs again at the next tick', async () => {
    const reports: string[] = [];
    let runs = 0;
    const task = repeatInBackground(
      () => {
        runs++;
        if (runs === 1) throw new Error('thrown');
        return Promise.reject(new Error('rejected'));
      },
      5,
      (err, operation) => void reports.push(`${operation}: ${(err as Error).message}`),
      'prune',
    );
    try {
      for (let i = 0; i < 200 && reports.length < 3; i++) await sleep(5);
    } finally {
      await task.stop();
    }
    expect(reports.slice(0, 3)).toEqual(['prune: thrown', 'prune: rejected', 'prune: rejected']);
  });

  it('stop() resolves once the run in flight has ended and been reported; nothing runs or reports after it', async () => {
    const events: string[] = [];
    let fail = (): void => {};
    let runs = 0;
    const task = repeatInBackground(
      () => {
        runs++;
        events.push('run');
        return new Promise<void>((_, reject) => (fail = () => reject(new Error('late'))));
      },
      5,
      (err) => void events.push(`report ${(err as Error).message}`),
      'prune',
    );
    for (let i = 0; i < 200 && runs < 1; i++) await sleep(5);
    const stopped = task.stop().then(() => void events.push('stopped'));
    await sleep(20);
    expect(events).toEqual(['run']);
    fail();
    await stopped;
    await sleep(30); // six ticks' worth: none comes
    expect(events).toEqual(['run', 'report late', 'stopped']);
    expect(runs).toBe(1);
  });

  it('stop() with no run in flight resolves, also when called twice', async () => {
    const task = repeatInBackground(
      () => Promise.resolve(),
      1000,
      () => {},
      'prune',
    );
    await task.stop();
    await task.stop();
  });

  it('does not keep the process alive', async () => {
    const dist = new URL('../dist/background-task.js', import.meta.url).href;
    const script = `import { repeatInBackground } from '${dist}'; repeatInBackground(() => Promise.resolve(), 1000, () => {}, 'prune');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
