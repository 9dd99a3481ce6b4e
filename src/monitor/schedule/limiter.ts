// At most N tasks at once across a worker process, first come first served within each of two lines: a task
// asked to go ahead (a one-off run: a re-check, a first run) takes the next free slot before every task waiting in
// the ordinary line (the members of shard ticks), so it does not wait out the ticks of every shard taken before it.
export class Limiter {
  private active = 0;
  private readonly ahead = new Line<() => void>();
  private readonly waiting = new Line<() => void>();

  constructor(private readonly limit: number) {}

  /** Tasks waiting for a slot, in both lines (the shard ticks' debug log reports it). */
  get waitingCount(): number {
    return this.ahead.length + this.waiting.length;
  }

  async run<T>(task: () => Promise<T>, options: { isAhead?: boolean } = {}): Promise<T> {
    if (this.active >= this.limit)
      await new Promise<void>((resolve) => (options.isAhead ? this.ahead : this.waiting).push(resolve));
    else this.active += 1;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next in line, so a newcomer cannot overtake it.
      const next = this.ahead.take() ?? this.waiting.take();
      if (next) next();
      else this.active -= 1;
    }
  }
}

/** Taken items dropped from the front in one splice once this many (and half the array) have gone. */
const compactAfter = 1024;

/**
 * A first-in first-out line whose take is O(1): an index to the front instead of Array.shift, which moves every
 * item behind it (draining a line of n by shift costs O(n²)). The taken front is cut off now and then, so the
 * array stays within twice the waiting items (or the first 1,024).
 */
class Line<T> {
  private items: Array<T | undefined> = [];
  private front = 0;

  get length(): number {
    return this.items.length - this.front;
  }

  push(item: T): void {
    this.items.push(item);
  }

  take(): T | undefined {
    if (this.front === this.items.length) return undefined;
    const item = this.items[this.front];
    this.items[this.front] = undefined;
    this.front += 1;
    if (this.front === this.items.length) {
      this.items = [];
      this.front = 0;
    } else if (this.front >= compactAfter && this.front * 2 >= this.items.length) {
      this.items.splice(0, this.front);
      this.front = 0;
    }
    return item;
  }
}
