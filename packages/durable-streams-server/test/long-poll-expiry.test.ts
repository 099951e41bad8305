import { expect, it } from 'vitest';
import { randomSuffix } from './helpers.js';
import { describeEveryServer } from './stores.js';

/** The server's default long-poll timeout: a store that misses the expiry answers 204 then. */
const LONG_POLL_MS = 20_000;
/** Generous: a loaded CI machine, timers firing late, a look at the backend. */
const SLACK_MS = 3000;

// A long-poll at the tail of a stream that expires while it waits answers 404 at the
// expiry, as a read after it would, on every store: not 204 at the long-poll timeout, and
// not whenever a cleanup happens to run.
await describeEveryServer({ longPollTimeoutMs: LONG_POLL_MS, log: false }, (served) => {
  /** Creates the stream, long-polls at its tail, and returns the answer and when it came after the PUT returned. */
  async function pollUntilExpiry(headers: Record<string, string>): Promise<{ status: number; afterMs: number }> {
    const path = `/expiring-${randomSuffix()}`;
    const put = await fetch(`${served.base}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain', ...headers }, body: 'a' });
    expect(put.status).toBe(201);
    const created = Date.now();
    const tail = put.headers.get('stream-next-offset');
    expect(tail).toBeTruthy();
    const poll = await fetch(`${served.base}${path}?offset=${tail}&live=long-poll`);
    await poll.arrayBuffer();
    const afterMs = Date.now() - created;
    // Expired is absent: a plain read says so too.
    expect((await fetch(`${served.base}${path}?offset=-1`)).status).toBe(404);
    return { status: poll.status, afterMs };
  }

  it('Stream-TTL: 1 — the long-poll answers 404 about a second in, well before the long-poll timeout', async () => {
    // The long-poll's read renews the TTL, so the stream ends 1 s after it, not after the PUT.
    const { status, afterMs } = await pollUntilExpiry({ 'Stream-TTL': '1' });
    expect(status).toBe(404);
    expect(afterMs).toBeLessThan(1000 + SLACK_MS);
  }, 30_000);

  it('Stream-Expires-At 1.5 s ahead — the long-poll answers 404 by then', async () => {
    const at = new Date(Date.now() + 1500).toISOString();
    const { status, afterMs } = await pollUntilExpiry({ 'Stream-Expires-At': at });
    expect(status).toBe(404);
    expect(afterMs).toBeLessThan(1500 + SLACK_MS);
  }, 30_000);
});
