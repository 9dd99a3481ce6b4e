// The probes a worker process runs at once on the batch lane (BATCH_WORKER_CONCURRENCY), shared by every chunk it
// holds: first asked, first served, so the chunks taken first end first.

interface Waiter {
  stop: AbortSignal;
  grant: (isGranted: boolean) => void;
}

export class ProbeSlots {
  #free: number;
  #waiting: Waiter[] = [];
  /** The stop signals listened to: one listener each, however many wait on it (a listener per wait is a walk). */
  readonly #watched = new WeakSet<AbortSignal>();

  constructor(size: number) {
    this.#free = size;
  }

  /**
   * Waits for a slot: true with one (give it back with release()), false without once `stop` is aborted (the
   * worker is closing), so a chunk stops taking new URLs.
   */
  acquire(stop: AbortSignal): Promise<boolean> {
    if (stop.aborted) return Promise.resolve(false);
    if (this.#free > 0) {
      this.#free -= 1;
      return Promise.resolve(true);
    }
    if (!this.#watched.has(stop)) {
      this.#watched.add(stop);
      stop.addEventListener('abort', () => this.#refuse(stop), { once: true });
    }
    return new Promise((grant) => this.#waiting.push({ stop, grant }));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next.grant(true);
    else this.#free += 1;
  }

  #refuse(stop: AbortSignal): void {
    const refused = this.#waiting.filter((waiter) => waiter.stop === stop);
    this.#waiting = this.#waiting.filter((waiter) => waiter.stop !== stop);
    for (const waiter of refused) waiter.grant(false);
  }
}
