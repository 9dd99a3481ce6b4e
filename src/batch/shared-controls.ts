// A batch's controls in the service: probed once for the whole batch, whichever worker process takes its URLs, and
// again only while one fails (at most every refreshMs). A URL of the batch lane uses the batch's own; a vantage's
// part of a batch with vantages uses the ones that vantage probed for the batch, as it sits in another network
// and sees them its own way. The observation is kept in Redis beside the batch, one key per vantage; a lock lets
// one worker probe while the others wait for what it writes.
import type { ProbeOptions } from '../engine.js';
import { waitAtMost } from '../lifecycle.js';
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
  /**
   * This process's vantage name: the parts of a batch it takes share the controls it probed for that batch.
   * Without it, a part's controls are probed with its URL, as a lone probe's are.
   */
  vantage?: string;
}

/** Whose controls a job uses: its batch's, or its batch's as one vantage sees them. */
interface ControlScope {
  batchId: string;
  vantage?: string;
}

/** A batch lane's URL, or a vantage's part of a batch's URL; a lone probe (fanned out or not) has no scope. */
function scopeOf(data: ProbeJobData, vantage: string | undefined): ControlScope | undefined {
  if (data.fanOut) {
    const { batchId } = data.fanOut;
    return batchId !== undefined && vantage !== undefined ? { batchId, vantage } : undefined;
  }
  return data.batch ? { batchId: data.batch.id } : undefined;
}

/** Where a scope's controls are kept: beside its batch, in its hash slot, one key for each vantage. */
export function sharedControlsKey(prefix: string, scope: ControlScope): string {
  const { controls } = batchKeys(prefix, scope.batchId);
  return scope.vantage === undefined ? controls : `${controls}:vantage:${scope.vantage}`;
}

/** What a part keeps of its time before its deadline besides its probe: writing its result, the probe's overrun. */
const partMarginMs = 1000;

/**
 * How long a job may wait for its scope's controls, or undefined for as long as they take. A part must end by its
 * deadline (the comparison runs then): past what its own probe leaves, it probes its controls with its URL.
 */
function waitLimitMs(data: ProbeJobData, options: ProbeOptions): number | undefined {
  if (data.notAfterMs === undefined) return undefined;
  return data.notAfterMs - Date.now() - (options.timeoutMs ?? 10_000) - partMarginMs;
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
      ca: options.ca ?? [],
      signal: stop.signal,
      ...(options.isAddressAllowed ? { isAddressAllowed: options.isAddressAllowed } : {}),
      ...(options.maxRedirects === undefined ? {} : { maxRedirects: options.maxRedirects }),
      ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    });
    return { probedAtMs: Date.now(), results: controls.current() };
  };

  /**
   * The scope's controls from Redis when fresh; otherwise this worker takes the lock and probes them, or waits for
   * the one that holds it. A holder that died leaves its lock to expire; then the next one probes.
   */
  const load = async (key: string, urls: string[], options: ProbeOptions): Promise<StoredControls> => {
    const lockKey = `${key}:lock`;
    const holdMs = (options.timeoutMs ?? 10_000) * 2 + 5000;
    const giveUpAtMs = Date.now() + holdMs + 5000;
    while (!stop.signal.aborted && Date.now() < giveUpAtMs) {
      const text = await settings.redis.get(key);
      const stored = text === null ? undefined : (JSON.parse(text) as StoredControls);
      if (stored && !isStale(stored)) return stored;
      if ((await settings.redis.set(lockKey, '1', 'PX', holdMs, 'NX')) === 'OK') {
        try {
          const fresh = await probeHere(urls, options);
          await settings.redis.set(key, JSON.stringify(fresh), 'EX', settings.ttlSeconds);
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
    /**
     * The controls of this job's batch (at this vantage, for a part), or undefined to let the engine probe them with
     * the URL: not a batch's, no controls, Redis away, or a part that cannot wait longer for them.
     */
    async controlResultsFor(data: ProbeJobData, options: ProbeOptions): Promise<ControlResult[] | undefined> {
      const urls = options.controls ?? [];
      const scope = scopeOf(data, settings.vantage);
      if (!scope || urls.length === 0) return undefined;
      const key = sharedControlsKey(settings.prefix, scope);
      let entry = local.get(key);
      if (!entry) {
        entry = {};
        local.set(key, entry);
        for (const oldKey of local.keys()) {
          if (local.size <= keep) break;
          local.delete(oldKey);
        }
      }
      const current = entry;
      if (current.stored && !isStale(current.stored)) return current.stored.results;
      current.loading ??= load(key, urls, options)
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
      const loading = current.loading;
      const limitMs = waitLimitMs(data, options);
      // The load goes on for the parts after this one, which find its result stored.
      if (limitMs !== undefined && (limitMs <= 0 || (await waitAtMost(limitMs, loading)) === 'gave up'))
        return undefined;
      return (await loading)?.results;
    },
    close() {
      stop.abort();
      local.clear();
    },
  };
}
