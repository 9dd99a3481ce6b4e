// The probes a batch has in flight, each with its own stop, all stopped at once by the batch's signal.

/**
 * Each probe listening on the batch's signal itself made every addEventListener a walk through the others
 * (Node's EventTarget looks for a duplicate): at 5,000 in flight, a tenth of the batch's CPU. Here one listener
 * on the batch's signal aborts every probe in flight, through the engine's `registerStop`: each probe's abort is
 * kept in a set, with no AbortController of its own (one per probe, beside the engine's, was ≈ 1 % of its CPU).
 */
export class InFlightProbes {
  readonly #aborts = new Set<(reason: unknown) => void>();

  constructor(private readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => {
      for (const abort of this.#aborts) abort(signal.reason);
    });
  }

  /** For `probe({ registerStop })`: keeps the probe's abort until the probe ends (aborts it at once if stopped). */
  readonly register = (abort: (reason: unknown) => void): (() => void) => {
    if (this.signal.aborted) {
      abort(this.signal.reason);
      return () => {};
    }
    this.#aborts.add(abort);
    return () => this.#aborts.delete(abort);
  };

  /**
   * A signal of its own for a run that takes a signal rather than `registerStop` (a service chunk's URL): aborted
   * with the batch's; `release` when the run ends.
   */
  child(): { signal: AbortSignal; release: () => void } {
    const stop = new AbortController();
    const release = this.register((reason) => stop.abort(reason));
    return { signal: stop.signal, release };
  }
}
