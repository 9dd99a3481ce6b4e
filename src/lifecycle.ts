// How long-lived parts close: within a deadline, once for every caller, and with no cleanup leaking the rest.

/**
 * Starts `close` and waits for it up to `deadlineMs`. Past the deadline, `onDeadline` cuts short what is still in
 * flight (aborts jobs, drops connections) and the close is awaited to its end, so nothing is left half-open.
 * Says which came first, for the caller's log.
 */
export async function closeWithin(
  deadlineMs: number,
  close: () => Promise<unknown>,
  onDeadline: () => void,
): Promise<'closed' | 'deadline'> {
  const closing = close();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), deadlineMs);
  });
  try {
    const first = await Promise.race([closing.then(() => 'closed' as const), deadline]);
    if (first === 'deadline') {
      onDeadline();
      await closing;
    }
    return first;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The close of a long-lived part, run once: a second call (a signal during shutdown, a test's afterEach) gets the
 * promise of the first, whatever it passes. BullMQ's Worker.close keeps its closing promise the same way.
 */
export function closeOnce<Args extends unknown[]>(
  close: (...args: Args) => Promise<void>,
): (...args: Args) => Promise<void> {
  let closing: Promise<void> | undefined;
  return (...args) => {
    closing ??= close(...args);
    return closing;
  };
}

/** One named cleanup of a list; the name is what a failure is logged under. */
export type Cleanup = readonly [name: string, cleanup: () => unknown];

/**
 * Runs every cleanup in order, each in its own try/catch, so one that throws cannot leak the ones after it.
 * Failures go to `onError` (a log line); the list always runs to its end.
 */
export async function runCleanups(
  cleanups: ReadonlyArray<Cleanup | undefined>,
  onError: (error: unknown, name: string) => void,
): Promise<void> {
  for (const entry of cleanups) {
    if (!entry) continue;
    const [name, cleanup] = entry;
    try {
      await cleanup();
    } catch (error) {
      onError(error, name);
    }
  }
}

/**
 * Waits for `work` up to `limitMs` and goes on without it past that: for a courtesy (a withdrawal, a QUIT) that
 * a Redis gone away would hold for good. Says which came first.
 */
export async function waitAtMost(limitMs: number, work: Promise<unknown>): Promise<'done' | 'gave up'> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'gave up'>((resolve) => {
    timer = setTimeout(() => resolve('gave up'), limitMs);
  });
  try {
    return await Promise.race([work.then(() => 'done' as const), limit]);
  } finally {
    clearTimeout(timer);
  }
}
