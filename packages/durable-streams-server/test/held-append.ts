import { request } from 'node:http';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A POST whose body is sent in two parts: the second once `second` is called. `sent`: the
 * headers and the first part are on a connected socket.
 */
export function appendInTwoParts(url: string, first: string) {
  const req = request(url, { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' } });
  const answered = new Promise<{ status: number; nextOffset: string | undefined } | Error>((resolve) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, nextOffset: res.headers['stream-next-offset'] as string | undefined }));
    });
    req.on('error', (err) => resolve(err));
  });
  const sent = new Promise<void>((resolve) => req.write(first, () => resolve()));
  return { answered, sent, second: (rest: string) => req.end(rest), abort: () => req.destroy() };
}

/**
 * Resolves once the server has answered a request on a connection of its own, made after
 * every earlier one: it accepts connections in order, so by then it has taken an earlier
 * connection's request (not a timing assertion).
 */
function answeredOnNewConnection(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    request(`${url}/__ds/health/live`, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    })
      .on('error', reject)
      .end();
  });
}

/** Returns once a half-sent request has reached the server (before a signal is sent to it). */
export async function reached(held: { sent: Promise<void> }, url: string): Promise<void> {
  await held.sent;
  await answeredOnNewConnection(url);
  await sleep(300); // slack on top of the ordering above
}
