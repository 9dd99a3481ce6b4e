// A batch's controls in the service: probed once for the whole batch, whichever worker process takes its URLs, and
// again only while one fails (at most every refreshMs). The observation is kept in Redis beside the batch; a lock
// lets one worker probe while the others wait for what it writes.
import type { ProbeOptions } from '../engine.js';
import type { RedisClient } from '../redis/connection.js';
import type { ProbeJobData } from '../requests/probe-job.js';
import type { ControlResult } from '../types.js';
import { probeBatchControls } from './controls.js';
import { batchKeys } from './store.js';

/** The controls as stored: their results and when they were probed. */
interface StoredControls {
  probedAtMs: number;
  results: ControlResult[];
}

export interface SharedControlSettings {
  redis: RedisClient;
  prefix: string;
  /** The batch's result TTL: the stored controls expire with it. */
  ttlSeconds: number;
  /** A failed control is probed again at most this often (as the CLI does). */
  refreshMs?: number;
  /** Batches whose controls this process keeps at hand. */
  keep?: number;
}

/** How often a worker waiting for another's probe of the controls looks again. */
const waitStepMs = 100;

export function createSharedControls(settings: SharedControlSettings) {
  const refreshMs = settings.refreshMs ?? 30_000;
  const keep = settings.keep ?? 16;
  const local = new Map<string, { stored?: StoredControls; loading?: Promise<StoredControls | undefined> }>();
  const stop = new AbortController();

  const isStale = (stored: StoredControls) =>
    stored.results.some((result) => !result.isReachable) && Date.now() - stored.probedAtMs >= refreshMs;

  /** Probes the controls here, with the probe's own options (policy, limits, deadline). */
  const probeHere = async (urls: string[], options: ProbeOptions): Promise<StoredControls> => {
    const controls = await probeBatchControls({
      urls,
      resolvers: options.resolvers ?? [],
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ca: [],
      signal: stop.signal,
      ...(options.isAddressAllowed ? { isAddressAllowed: options.isAddressAllowed } : {}),
      ...(options.maxRedirects === undefined ? {} : { maxRedirects: options.maxRedirects }),
      ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    });
    return { probedAtMs: Date.now(), results: controls.current() };
  };

  /**
   * The batch's controls from Redis when fresh; otherwise this worker takes the lock and probes them, or waits for
   * the one that holds it. A holder that died leaves its lock to expire; then the next one probes.
   */
  const load = async (batchId: string, urls: string[], options: ProbeOptions): Promise<StoredControls> => {
    const keys = batchKeys(settings.prefix, batchId);
    const lockKey = `${keys.controls}:lock`;
    const holdMs = (options.timeoutMs ?? 10_000) * 2 + 5000;
    const giveUpAtMs = Date.now() + holdMs + 5000;
    while (!stop.signal.aborted && Date.now() < giveUpAtMs) {
      const text = await settings.redis.get(keys.controls);
      const stored = text === null ? undefined : (JSON.parse(text) as StoredControls);
      if (stored && !isStale(stored)) return stored;
      if ((await settings.redis.set(lockKey, '1', 'PX', holdMs, 'NX')) === 'OK') {
        try {
          const fresh = await probeHere(urls, options);
          await settings.redis.set(keys.controls, JSON.stringify(fresh), 'EX', settings.ttlSeconds);
          return fresh;
        } finally {
          await settings.redis.del(lockKey).catch(() => undefined);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, waitStepMs));
    }
    // The holder is taking longer than its own deadline allows: probe here rather than wait without end.
    return probeHere(urls, options);
  };

  return {
    /** The controls of this job's batch, or undefined (not a batch, or no controls) to let the engine probe. */
    async controlResultsFor(data: ProbeJobData, options: ProbeOptions): Promise<ControlResult[] | undefined> {
      const urls = options.controls ?? [];
      if (!data.batch || urls.length === 0) return undefined;
      const batchId = data.batch.id;
      let entry = local.get(batchId);
      if (!entry) {
        entry = {};
        local.set(batchId, entry);
        for (const oldId of local.keys()) {
          if (local.size <= keep) break;
          local.delete(oldId);
        }
      }
      const current = entry;
      if (current.stored && !isStale(current.stored)) return current.stored.results;
      current.loading ??= load(batchId, urls, options)
        .then((stored) => {
          current.stored = stored;
          return stored;
        })
        // A failure here (Redis away) leaves the engine to probe the controls with the URL this time.
        .catch(() => undefined)
        .finally(() => {
          current.loading = undefined;
        });
      // A refresh of failed controls runs beside, never in front of, the URL's probe.
      if (current.stored) return current.stored.results;
      return (await current.loading)?.results;
    },
    close() {
      stop.abort();
      local.clear();
    },
  };
}
