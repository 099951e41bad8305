import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { repeatInBackground } from '../src/background-task.js';

describe('repeatInBackground', () => {
  it('skips the ticks that come while a run is still going: one run at a time, then on again', async () => {
    let runs = 0;
    let finish = (): void => {};
    const reports: string[] = [];
    const timer = repeatInBackground(
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
      clearInterval(timer);
    }
  });

  it('reports a run that rejects or throws, and runs again at the next tick', async () => {
    const reports: string[] = [];
    let runs = 0;
    const timer = repeatInBackground(
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
      clearInterval(timer);
    }
    expect(reports.slice(0, 3)).toEqual(['prune: thrown', 'prune: rejected', 'prune: rejected']);
  });

  it('does not keep the process alive', () => {
    const timer = repeatInBackground(
      () => Promise.resolve(),
      1000,
      () => {},
      'prune',
    );
    expect(timer.hasRef()).toBe(false);
    clearInterval(timer);
  });
});
