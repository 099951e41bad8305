import type { ServerResponse } from 'node:http';

/**
 * Responses whose request the server answered on the socket itself, with the status it sent,
 * not through the `ServerResponse`: a body Node gave up on (408 once `requestTimeoutMs`
 * passed, 400 for malformed chunking). The response object then closes unsent; its access
 * line and span say the status the client got, not that it was cut. So does a 413 written
 * whole while the body still came, then the connection ended (see `answerThenLinger`).
 */
const answered = new WeakMap<ServerResponse, number>();

/** `res`'s request was answered `status` on its socket, in its place. */
export function answeredRaw(res: ServerResponse, status: number): void {
  answered.set(res, status);
}

/** The status `res`'s request was answered with on its socket, if it was. */
export const rawStatusOf = (res: ServerResponse): number | undefined => answered.get(res);
