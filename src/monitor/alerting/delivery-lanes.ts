// Which webhook deliveries may start now, so one slow or failing receiver cannot hold back everyone's alerts.

export interface DeliveryLaneLimits {
  /** Deliveries this worker process runs at once (its BullMQ concurrency). */
  concurrency: number;
  /** Deliveries in flight to one destination (scheme, host and port) at once. */
  perDestination: number;
  /** How long a destination whose last attempt failed stays in the slow lane. */
  suspectForMs: number;
}

/**
 * Two lanes share the worker's slots. Retries, and first attempts to a destination whose last attempt failed,
 * go in the slow lane, which may hold at most half the slots; first attempts to healthy destinations always
 * find the other half free. A destination may hold `perDestination` slots, and one while it is suspect. A
 * delivery that may not start is put back (delayed) by the caller instead of waiting in a slot. So new
 * destinations that hang hold at most `perDestination` slots each until their first timeout, and one after.
 */
export class DeliveryLanes {
  private readonly inFlight = new Map<string, number>();
  private slowInFlight = 0;
  private readonly failedAtMs = new Map<string, number>();
  private readonly slowLaneSlots: number;

  constructor(
    private readonly limits: DeliveryLaneLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.slowLaneSlots = Math.max(1, Math.floor(limits.concurrency / 2));
  }

  /** Takes a slot for a delivery, or returns undefined when it must wait; the lease's release gives it back. */
  acquire(destination: string, isRetry: boolean): { isSlow: boolean; release(): void } | undefined {
    const isSuspect = this.isSuspect(destination);
    const isSlow = isRetry || isSuspect;
    // A destination that failed last time gets one delivery in flight: it must prove itself before it gets more.
    const perDestination = isSuspect ? 1 : this.limits.perDestination;
    if ((this.inFlight.get(destination) ?? 0) >= perDestination) return undefined;
    if (isSlow && this.slowInFlight >= this.slowLaneSlots) return undefined;
    this.inFlight.set(destination, (this.inFlight.get(destination) ?? 0) + 1);
    if (isSlow) this.slowInFlight += 1;
    let isReleased = false;
    return {
      isSlow,
      release: () => {
        if (isReleased) return;
        isReleased = true;
        const left = (this.inFlight.get(destination) ?? 1) - 1;
        if (left > 0) this.inFlight.set(destination, left);
        else this.inFlight.delete(destination);
        if (isSlow) this.slowInFlight -= 1;
      },
    };
  }

  /** Records an attempt's outcome: a failure (timeout, refusal, 5xx) puts the destination in the slow lane. */
  recordOutcome(destination: string, isDelivered: boolean): void {
    if (isDelivered) this.failedAtMs.delete(destination);
    else this.failedAtMs.set(destination, this.now());
    // Bounded: forget the oldest failures once many destinations are tracked.
    if (this.failedAtMs.size > 10_000) {
      const oldest = this.failedAtMs.keys().next().value;
      if (oldest !== undefined) this.failedAtMs.delete(oldest);
    }
  }

  private isSuspect(destination: string): boolean {
    const failedAtMs = this.failedAtMs.get(destination);
    if (failedAtMs === undefined) return false;
    if (this.now() - failedAtMs <= this.limits.suspectForMs) return true;
    this.failedAtMs.delete(destination);
    return false;
  }
}

/** A webhook URL's destination: scheme, host and port, never its path or query (they carry tokens). */
export function destinationOf(url: string): string {
  try {
    const parsed = new URL(url);
    const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80');
    return `${parsed.protocol}//${parsed.hostname}:${port}`;
  } catch {
    return 'invalid-url';
  }
}
