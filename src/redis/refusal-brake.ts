// A BullMQ worker held while Redis refuses writes: BullMQ retries a refused take at once (it waits only on
// connection errors), thousands of times a second in the worker and in Redis, so the worker stops taking jobs
// for a while instead and tries again after a wait that doubles while the refusals go on.
import type { Worker } from 'bullmq';
import type { Logger } from 'pino';
import { isRedisRefusingWrites } from './errors.js';

export interface RefusalBrakeOptions {
  /** The first wait after a refusal; each refusal met on trying again doubles it, up to `maxWaitMs`. */
  firstWaitMs?: number;
  maxWaitMs?: number;
  /** A refusal this long after the last one starts a new storm: warned of again, the wait back at its first. */
  stormGapMs?: number;
}

export interface RefusalBrake {
  /** True while the worker takes no jobs because Redis refused a write. */
  isHolding(): boolean;
}

/**
 * Holds `worker` when one of its Redis calls is refused for want of writes (MISCONF, OOM, NOREPLICAS): it
 * finishes the jobs it has and takes no new one until the wait is over. A refusal met again doubles the wait; a
 * job taken (a write Redis accepted) ends the storm. Released for good when the worker closes.
 */
export function brakeOnRefusedWrites(
  worker: Worker,
  logger: Logger,
  context: Record<string, unknown>,
  { firstWaitMs = 1000, maxWaitMs = 30_000, stormGapMs = 60_000 }: RefusalBrakeOptions = {},
): RefusalBrake {
  let isHolding = false;
  let isClosed = false;
  let waitMs = firstWaitMs;
  let lastRefusalAtMs: number | undefined;
  let isInStorm = false;
  let timer: NodeJS.Timeout | undefined;

  worker.on('error', (error) => {
    if (isClosed || isHolding || !isRedisRefusingWrites(error)) return;
    const nowMs = Date.now();
    if (lastRefusalAtMs === undefined || nowMs - lastRefusalAtMs > stormGapMs) {
      waitMs = firstWaitMs;
      isInStorm = false;
    }
    lastRefusalAtMs = nowMs;
    isHolding = true;
    const logged = { ...context, waitSeconds: waitMs / 1000 };
    if (isInStorm) logger.debug(logged, 'Redis still refuses writes: taking no jobs for a while longer');
    else logger.warn(logged, 'Redis refuses writes: this worker takes no jobs until it accepts them again');
    isInStorm = true;
    // Not waiting for the jobs in hand: they finish (or fail to record) on their own, while no new one is taken.
    worker
      .pause(true)
      .catch((pauseError: unknown) => logger.debug({ ...context, err: pauseError }, 'pause failed'));
    timer = setTimeout(() => {
      timer = undefined;
      if (isClosed) return;
      isHolding = false;
      worker.resume();
    }, waitMs);
    waitMs = Math.min(waitMs * 2, maxWaitMs);
  });

  // Taking a job is a write Redis accepted: the storm is over.
  worker.on('active', () => {
    if (!isInStorm) return;
    isInStorm = false;
    waitMs = firstWaitMs;
    logger.info(context, 'Redis accepts writes again: this worker takes jobs');
  });

  worker.on('closing', () => {
    isClosed = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
  });

  return { isHolding: () => isHolding };
}
