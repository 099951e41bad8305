import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** A key no other test uses (idempotency key, rate-limit client). */
export const uniqueKey = (label: string): string => `${label}-${randomBytes(6).toString('hex')}`;

export interface Answer {
  /** 0 when the client hung up before the answer. */
  status: number;
  body: string;
  replayed: boolean;
  retryAfter: string | null;
}

/**
 * `POST /orders` with an Idempotency-Key (also the rate-limit client), the handler's timing in
 * `timing` (`x-effect-at`, `x-answer-at` in ms), and a hang-up after `hangUp` ms or when it aborts.
 */
export async function order(
  url: string,
  key: string,
  timing: { effectAt?: number; answerAt?: number } = {},
  hangUp?: number | AbortSignal,
): Promise<Answer> {
  const ac = new AbortController();
  const timer = typeof hangUp === 'number' ? setTimeout(() => ac.abort(), hangUp) : undefined;
  if (typeof hangUp === 'object') hangUp.addEventListener('abort', () => ac.abort(), { once: true });
  try {
    const res = await fetch(`${url}/orders`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'idempotency-key': key,
        'x-client': key,
        'x-effect-at': String(timing.effectAt ?? 0),
        'x-answer-at': String(timing.answerAt ?? 0),
      },
      body: '{"item":"book","qty":1}',
      signal: ac.signal,
    });
    const body = await res.text();
    return {
      status: res.status,
      body,
      replayed: res.headers.get('idempotent-replayed') === 'true',
      retryAfter: res.headers.get('retry-after'),
    };
  } catch (err) {
    if (ac.signal.aborted) return { status: 0, body: '', replayed: false, retryAfter: null };
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** The side effects every replica recorded for `key`. */
export async function effects(url: string, key: string): Promise<Array<{ id: string; replica: string }>> {
  const res = await fetch(`${url}/effects?key=${encodeURIComponent(key)}`);
  if (res.status !== 200) throw new Error(`GET /effects answered ${res.status}`);
  return (await res.json()) as Array<{ id: string; replica: string }>;
}

/** How many runs of the orders handler began for `key` on the replica at `url`. */
export async function started(url: string, key: string): Promise<number> {
  const res = await fetch(`${url}/started?key=${encodeURIComponent(key)}`);
  if (res.status !== 200) throw new Error(`GET /started answered ${res.status}`);
  return ((await res.json()) as { runs: number }).runs;
}

/** What the backend counted for a client: orders (our rate limit) and pings (express-rate-limit). */
export async function counts(url: string, client: string): Promise<{ orders: number; pings: number }> {
  const res = await fetch(`${url}/counts?client=${encodeURIComponent(client)}`);
  if (res.status !== 200) throw new Error(`GET /counts answered ${res.status}`);
  return (await res.json()) as { orders: number; pings: number };
}

/** Polls `check` every 50 ms until it holds; fails after `ms`. */
export async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await sleep(50);
  }
}
