// At most N tasks at once across a worker process, first come first served within each of two lines: a task
// asked to go ahead (a one-off run: a re-check, a first run) takes the next free slot before every task waiting in
// the ordinary line (the members of shard ticks), so it does not wait out the ticks of every shard taken before it.
export class Limiter {
  private active = 0;
  private readonly ahead: Array<() => void> = [];
  private readonly waiting: Array<() => void> = [];

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
      const next = this.ahead.shift() ?? this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}
