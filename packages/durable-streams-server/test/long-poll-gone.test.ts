import { expect, it } from 'vitest';
import { randomSuffix } from './helpers.js';
import { describeEveryServer } from './stores.js';

// A long-poll waiting on a stream that is deleted answers what a read after it would: 410
// when the stream is kept for its forks, 404 when it is gone for good.
await describeEveryServer({ longPollTimeoutMs: 20_000, log: false }, (served) => {
  /** Creates `path` (and a fork of it when asked), long-polls at its tail, deletes it; the long-poll's and a read's status. */
  async function deleteWhilePolling(withFork: boolean): Promise<{ poll: number; read: number }> {
    const path = `/source-${randomSuffix()}`;
    const put = await fetch(`${served.base}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' }, body: 'a' });
    expect(put.status).toBe(201);
    if (withFork) {
      const fork = await fetch(`${served.base}${path}-fork`, { method: 'PUT', headers: { 'Stream-Forked-From': path } });
      expect(fork.status).toBe(201);
    }
    const polling = fetch(`${served.base}${path}?offset=${put.headers.get('stream-next-offset')}&live=long-poll`);
    await new Promise((r) => setTimeout(r, 100)); // the long-poll is waiting
    expect((await fetch(`${served.base}${path}`, { method: 'DELETE' })).status).toBe(204);
    const poll = await polling;
    await poll.arrayBuffer();
    const read = await fetch(`${served.base}${path}?offset=-1`);
    await read.arrayBuffer();
    if (withFork) expect(await (await fetch(`${served.base}${path}-fork?offset=-1`)).text()).toBe('a');
    return { poll: poll.status, read: read.status };
  }

  it('a source kept for its fork: the long-poll answers 410, as a read does', async () => {
    expect(await deleteWhilePolling(true)).toEqual({ poll: 410, read: 410 });
  }, 30_000);

  it('a stream without forks: the long-poll answers 404, as a read does', async () => {
    expect(await deleteWhilePolling(false)).toEqual({ poll: 404, read: 404 });
  }, 30_000);
});
