import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorLine } from './options.js';
import { logLine } from './responses.js';

/**
 * Bodies larger than this are written a piece at a time, each once the connection has taken
 * the one before. Node hands one write to the kernel as a whole and says nothing until all of
 * it is taken, so a 16 MiB body written at once would have to be taken within the send time
 * limit as a whole (4.5 Mbit/s at 30 s); in pieces the limit bounds a stall, not the transfer.
 */
export const PIECE_BYTES = 1024 * 1024;

/**
 * The send time limit of every response (`sendTimeoutMs`): what the server wrote must be taken
 * by the connection within it, else the connection is cut and one line logged (`SEND_TIMEOUT`),
 * so a client that asks for a large read and never reads does not hold its data here for as
 * long as its connection stays open. The one rule for every response: an SSE response waits
 * here for each batch to be taken (its backpressure) as a catch-up read does for each piece. "Taken" is handed to the kernel (whose socket buffers hold
 * a few MB more). A response the kernel takes whole as it is written (nearly all) costs a check,
 * no timer.
 */
export class SendLimit {
  constructor(
    readonly ms: number,
    private readonly log: (entry: ErrorLine) => void,
  ) {}

  /**
   * Ends `res` with `body`, a piece at a time when it is large (see `PIECE_BYTES`), each piece
   * taken within the limit. Resolves once all of it is written, or the connection is gone or cut.
   */
  async end(res: ServerResponse, body: Buffer): Promise<void> {
    let at = 0;
    for (; body.length - at > PIECE_BYTES; at += PIECE_BYTES) {
      if (res.destroyed) return;
      if (!res.write(body.subarray(at, at + PIECE_BYTES)) && !(await this.within(res, 'drain'))) return;
    }
    if (!res.destroyed) res.end(at === 0 ? body : body.subarray(at));
  }

  /**
   * For a response that has ended (`end()` called): when some of it still waits here for the
   * client, the client must take it within the limit.
   */
  ended(res: ServerResponse): void {
    if (!res.writableEnded || res.writableFinished || res.destroyed || res.writableLength === 0) return;
    // `end()` may cork the connection until the next tick: look once its data was handed on.
    process.nextTick(() => {
      if (res.writableFinished || res.destroyed || res.writableLength === 0) return;
      void this.within(res, 'finish');
    });
  }

  /**
   * Cuts the connection of `res`, whose client did not take what was written to it in time
   * (`when`: by when it had to, e.g. `within 30000 ms`), with one log line; nothing when it is gone already.
   */
  cut(req: IncomingMessage, res: ServerResponse, when: string): void {
    if (res.destroyed) return;
    this.log(logLine(req, res.statusCode, 'SEND_TIMEOUT', `the client did not take the response's data ${when}: connection cut`));
    res.destroy();
  }

  /**
   * Resolves `true` once `res` has passed on what was written to it (at once when it has),
   * `false` when it closes first, is cut (the limit passed: one line), or `until` aborts
   * first (then nothing is cut). `until` must be the response's own signal, never one every
   * response shares (each wait adds a listener to it).
   */
  drained(res: ServerResponse, until?: AbortSignal): Promise<boolean> {
    if (res.destroyed) return Promise.resolve(false);
    if (!res.writableNeedDrain) return Promise.resolve(true);
    if (until?.aborted === true) return Promise.resolve(false);
    return this.within(res, 'drain', until);
  }

  private within(res: ServerResponse, event: 'drain' | 'finish', until?: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        res.off(event, onTaken);
        res.off('close', onGone);
        until?.removeEventListener('abort', onGone);
        resolve(ok);
      };
      const onTaken = (): void => done(true);
      const onGone = (): void => done(false);
      const timer = setTimeout(() => {
        done(false);
        this.cut(res.req, res, `within ${this.ms} ms (sendTimeoutMs)`);
      }, this.ms);
      res.on(event, onTaken);
      res.on('close', onGone);
      until?.addEventListener('abort', onGone);
    });
  }
}
