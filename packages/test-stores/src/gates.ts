/**
 * Named gates that order concurrent requests exactly: a handler says it has arrived (its
 * session is loaded) and waits; the test waits for the arrival, then opens the gate.
 */
export class Gates {
  private readonly arrivals = new Map<string, Deferred>();
  private readonly openings = new Map<string, Deferred>();

  /** In a handler: report arrival at `name`, then wait until the test opens it. */
  async pass(name: string): Promise<void> {
    this.deferred(this.arrivals, name).resolve();
    await this.deferred(this.openings, name).promise;
  }

  /** In the test: resolves once a request waits at `name`. */
  arrival(name: string): Promise<void> {
    return this.deferred(this.arrivals, name).promise;
  }

  open(name: string): void {
    this.deferred(this.openings, name).resolve();
  }

  private deferred(map: Map<string, Deferred>, name: string): Deferred {
    let d = map.get(name);
    if (d === undefined) map.set(name, (d = deferred()));
    return d;
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
