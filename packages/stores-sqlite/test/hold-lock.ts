import { fork } from 'node:child_process';
import { join } from 'node:path';

const holderScript = join(import.meta.dirname, 'fixtures/lock-holder.mjs');

/**
 * Another process takes the write lock of `file` (BEGIN IMMEDIATE) and keeps it `holdMs`, or
 * until `release()`. Resolves once it holds it. A separate process, so that it lets go on time
 * even while this process's thread is blocked inside a call.
 */
export async function holdLock(file: string, holdMs: number) {
  const child = fork(holderScript, [file, String(holdMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const released = new Promise<void>((resolve, reject) => {
    child.on('message', (m) => m === 'released' && resolve());
    child.once('exit', (code) => code !== 0 && reject(new Error(`the lock holder exited with ${code}`)));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m) => (m === 'locked' ? resolve() : reject(new Error(`unexpected ${String(m)}`))));
    child.once('error', reject);
  });
  return {
    released,
    release: () => {
      // Ignored if the holder already let go on its timer and exited.
      if (child.connected) child.send('release', () => {});
      return released;
    },
  };
}
