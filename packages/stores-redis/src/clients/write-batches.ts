/**
 * Write batches for node-redis. node-redis writes every command issued before its next
 * `setImmediate` in one socket write. Under load that is everything in flight at once: Redis
 * runs the whole batch while Node waits, then Node handles every reply while Redis waits
 * (measured at 64 calls in flight: a rate-limit `consume` cost Node 5.6 µs and Redis 8.6 µs,
 * yet took 14 µs). Handing the client at most {@link BATCH} commands per write lets Redis
 * start on one while Node handles the replies of the one before (`npm run bench:redis-cpu`:
 * that `consume` 71,500 to 110,900 calls/s). A lone command is handed over at once;
 * the commands and their order are unchanged, only when each reaches the client.
 *
 * Only public behaviour of node-redis is relied on (commands issued in one iteration leave
 * together): a later node-redis that writes differently makes this slower, never wrong.
 */

/**
 * Commands handed to the client per write. At 64 in flight, 8, 16 and 32 gave `consume`
 * alike; session `get`, bound by Node's time, 195,000 calls/s at 16 (more writes) and 250,000
 * at 32.
 */
export const BATCH = 32;

/** The rejection of a command whose call's time was up while it waited for its batch: it was never sent. */
export class SendTimePassed extends Error {
  constructor() {
    super("the call's time was up before its command was sent: nothing was done");
  }
}

/** The rejection of a command whose client was closed while it waited for its batch: it was never sent. */
export class ClosedBeforeSend extends Error {
  constructor() {
    super('the client was closed before the command was sent: nothing was done');
  }
}

/**
 * A call's command on its way to the client: never sent once `sendBy` (epoch ms) has passed
 * or its call `cancelled` it; `handed` once given to the client (until then, its call can
 * tell that nothing was sent).
 */
export interface Handover {
  readonly sendBy: number;
  handed: boolean;
  cancelled: boolean;
}

export class WriteBatches {
  /** Commands handed over since the client's last write. */
  private handed = 0;
  /**
   * Commands handed over at once after the pending schedule took its first turn (two turns):
   * the client writes them after that schedule ends, so they count to the batch it starts.
   */
  private late = 0;
  /** The pending schedule has taken its first of two turns. */
  private begun = false;
  /** Commands waiting for a later batch, in the order issued, from `head` on. */
  private waiting: ((now: number) => boolean)[] = [];
  private head = 0;
  private scheduled = false;

  /**
   * @param turns Event-loop iterations from a batch to the next: 1 where the client queues
   *   its write as the command is sent (a node-redis client), 2 where it first awaits (a
   *   node-redis cluster looks the slot's node up in promise callbacks, so its node's write
   *   is queued after our next turn and runs an iteration later).
   * @param open Whether the client still takes commands: one that waited past its closing
   *   is not sent ({@link ClosedBeforeSend}).
   */
  constructor(
    private readonly turns: 1 | 2,
    private readonly open: () => boolean,
  ) {}

  /**
   * `send()` now, or with a later batch when {@link BATCH} commands were handed over since the
   * client's last write or others wait before it. A `send` that throws rejects the returned
   * promise; one still waiting when its `handover` is cancelled or its `sendBy` has passed is
   * never sent ({@link SendTimePassed}). Without a `handover` (a store that does not batch):
   * at once, or behind the commands waiting, so that no command overtakes one issued before it.
   */
  send<T>(send: () => Promise<T>, handover: Handover | undefined): Promise<T> {
    if (handover === undefined && this.head === this.waiting.length) return send();
    if (handover !== undefined && (this.begun ? this.late : this.handed) < BATCH && this.head === this.waiting.length) {
      if (this.begun) this.late++;
      else this.handed++;
      handover.handed = true;
      try {
        return send();
      } finally {
        // After send(): the client's own setImmediate (its write) is queued first, so this runs after it.
        this.schedule(this.turns);
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.waiting.push((now) => {
        if (handover !== undefined && (handover.cancelled || now >= handover.sendBy)) {
          reject(new SendTimePassed());
          return false;
        }
        if (!this.open()) {
          reject(new ClosedBeforeSend());
          return false;
        }
        if (handover !== undefined) handover.handed = true;
        try {
          send().then(resolve, reject);
        } catch (err) {
          reject(err);
        }
        return true;
      });
    });
  }

  private schedule(turns: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const later = (left: number) => () => {
      if (left > 1) {
        this.begun = true;
        setImmediate(later(left - 1));
      } else this.next();
    };
    setImmediate(later(turns));
  }

  /** After the client's write: the next batch of waiting commands, if any. */
  private next(): void {
    this.scheduled = false;
    this.begun = false;
    this.handed = this.late;
    this.late = 0;
    const now = Date.now();
    while (this.head < this.waiting.length && this.handed < BATCH) {
      const run = this.waiting[this.head]!;
      // Handed over: the queue keeps no hold on it (nor on its arguments).
      (this.waiting as unknown[])[this.head++] = undefined;
      if (run(now)) this.handed++;
    }
    if (this.head === this.waiting.length) {
      this.waiting = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.waiting.length) {
      this.waiting = this.waiting.slice(this.head);
      this.head = 0;
    }
    if (this.handed > 0) this.schedule(this.turns);
  }
}
