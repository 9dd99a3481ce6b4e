// Small helpers shared by the probes: timing, errno extraction, abortable waits.

export function elapsedSince(startedMs: number): number {
  return Math.round((performance.now() - startedMs) * 100) / 100;
}

export function errnoOf(error: unknown): string | undefined {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string')
    return error.code;
  return undefined;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Milliseconds left before the signal's deadline, never below a floor. */
export function remainingMs(deadlineMs: number, floorMs = 0): number {
  return Math.max(floorMs, Math.round(deadlineMs - performance.now()));
}

/**
 * The family of an address already known to be one (resolved, or a URL's IP literal), never a name: only IPv6's
 * text holds a colon. Not net.isIPv6, whose regular expression was 0.5 % of a batch's CPU and 20 ms of the first
 * probe's (compiling it).
 */
export function familyOfAddress(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}
