// One listener on a parent's AbortSignal (a batch's, a shard tick's) passing its abort on to every run in flight.

/** Each signal's one fan-out, so that every part running work under a signal shares its one listener. */
const fanOuts = new WeakMap<AbortSignal, AbortFanOut>();

/**
 * The runs in flight under one parent signal, each with a stop of its own, all stopped by the parent's abort.
 *
 * Each run listening on the parent itself made every addEventListener a walk through the others (Node's
 * EventTarget looks for a duplicate): at 5,000 probes in flight, a tenth of a batch's CPU; and past 10 listeners
 * Node warns of a leak (a shard of hundreds of members, a chunk of 32 URLs). Here the parent carries one listener
 * while any run is in flight and none once the last has ended, so a long-lived parent keeps no listener between
 * its runs.
 */
export class AbortFanOut {
  /** The stop of each run in flight: a plain function, no AbortController, where the run takes `registerStop`. */
  readonly #stops = new Set<(reason: unknown) => void>();

  private constructor(readonly signal: AbortSignal) {}

  /** The fan-out of this signal: one per signal, however many parts run work under it. */
  static of(signal: AbortSignal): AbortFanOut {
    let fanOut = fanOuts.get(signal);
    if (!fanOut) {
      fanOut = new AbortFanOut(signal);
      fanOuts.set(signal, fanOut);
    }
    return fanOut;
  }

  readonly #onAbort = (): void => {
    const stops = [...this.#stops];
    this.#stops.clear();
    for (const stop of stops) stop(this.signal.reason);
  };

  /**
   * For `probe({ registerStop })`: keeps the run's stop until the run ends (calls it at once when the parent was
   * aborted already); answers what to call when the run ends.
   */
  readonly register = (stop: (reason: unknown) => void): (() => void) => {
    if (this.signal.aborted) {
      stop(this.signal.reason);
      return () => {};
    }
    if (this.#stops.size === 0) this.signal.addEventListener('abort', this.#onAbort, { once: true });
    this.#stops.add(stop);
    return () => {
      // The last run in flight: the listener goes too (after an abort, `once` removed it already).
      if (this.#stops.delete(stop) && this.#stops.size === 0)
        this.signal.removeEventListener('abort', this.#onAbort);
    };
  };

  /** A signal of its own for a run that takes a signal rather than `registerStop`; `release` when the run ends. */
  child(): { signal: AbortSignal; release: () => void } {
    const stop = new AbortController();
    const release = this.register((reason) => stop.abort(reason));
    return { signal: stop.signal, release };
  }

  /** Runs `run` with a signal of its own, aborted with the parent's, and forgets it when the run ends. */
  async run<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const { signal, release } = this.child();
    try {
      return await run(signal);
    } finally {
      release();
    }
  }
}

/** Runs `run` under the parent signal's fan-out (with no signal when there is no parent). */
export function runAsMember<T>(
  parent: AbortSignal | undefined,
  run: (signal: AbortSignal | undefined) => Promise<T>,
): Promise<T> {
  return parent ? AbortFanOut.of(parent).run(run) : run(undefined);
}
