// Vantage points: workers in other networks that advertise themselves in Redis with a heartbeat, and the
// selection of live vantages a request names.
import { waitAtMost } from '../lifecycle.js';
import type { Keyspace, RedisClient } from '../redis/connection.js';

export interface VantageInfo {
  name: string;
  labels: Record<string, string>;
  version: string;
  concurrency: number;
}

export interface LiveVantage extends VantageInfo {
  /** When its last heartbeat arrived (ISO 8601). */
  lastSeenAt: string;
}

export const vantageNamePattern = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** The queue only this vantage takes jobs from (besides the shared one). */
export function vantageQueueName(baseQueueName: string, vantage: string): string {
  return `${baseQueueName}-vantage-${vantage}`;
}

/** Where a fan-out's comparison waits for its parts, delayed until its deadline. */
export function compareQueueName(baseQueueName: string): string {
  return `${baseQueueName}-compare`;
}

/** A vantage is live while its last heartbeat is at most this many intervals old. */
const missedBeatsAllowed = 3;

/**
 * The registry: a sorted set of names scored by their last heartbeat, and each vantage's details in a key that
 * expires after three missed beats. Listing reads both, so a vantage that stopped beating drops out by itself.
 */
export class VantageRegistry {
  private readonly setKey: string;
  private lastList: { atMs: number; vantages: Promise<LiveVantage[]> } | undefined;

  constructor(
    private readonly redis: RedisClient,
    keys: Keyspace,
    baseQueueName: string,
    private readonly heartbeatMs: number,
  ) {
    // One group: beat and remove write the set and a vantage's details in one MULTI, and list reads them with MGET.
    this.setKey = keys.group(`${baseQueueName}:vantages`);
  }

  private infoKey(name: string): string {
    return `${this.setKey}:${name}`;
  }

  async beat(info: VantageInfo, nowMs = Date.now()): Promise<void> {
    const live: LiveVantage = { ...info, lastSeenAt: new Date(nowMs).toISOString() };
    await this.redis
      .multi()
      .zadd(this.setKey, nowMs, info.name)
      .set(this.infoKey(info.name), JSON.stringify(live), 'PX', this.heartbeatMs * missedBeatsAllowed)
      .exec();
  }

  async remove(name: string): Promise<void> {
    await this.redis.multi().zrem(this.setKey, name).del(this.infoKey(name)).exec();
  }

  /**
   * The live vantages as read at most `maxAgeMs` ago (a read in flight is shared): what a busy API selects from,
   * three commands a second instead of three a request. A vantage that died since is lost at the deadline, as
   * one dying right after a fresh read would be; a caller that misses a name reads again with list().
   */
  recentList(maxAgeMs = 1000): Promise<LiveVantage[]> {
    const nowMs = Date.now();
    if (!this.lastList || nowMs - this.lastList.atMs > maxAgeMs) {
      const vantages = this.list(nowMs);
      this.lastList = { atMs: nowMs, vantages };
      vantages.catch(() => {
        if (this.lastList?.vantages === vantages) this.lastList = undefined;
      });
    }
    return this.lastList.vantages;
  }

  /** The vantages whose heartbeat is recent, by name. */
  async list(nowMs = Date.now()): Promise<LiveVantage[]> {
    const oldestMs = nowMs - this.heartbeatMs * missedBeatsAllowed;
    await this.redis.zremrangebyscore(this.setKey, '-inf', `(${oldestMs}`);
    const names = await this.redis.zrangebyscore(this.setKey, oldestMs, '+inf');
    if (names.length === 0) return [];
    const infos = await this.redis.mget(names.map((name) => this.infoKey(name)));
    return infos
      .filter((text): text is string => text !== null)
      .map((text) => JSON.parse(text) as LiveVantage)
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}

export interface VantageHeartbeat {
  close(): Promise<void>;
}

/** Beats at once and then every heartbeatMs; close() stops and withdraws the vantage. */
/** How long a closing heartbeat tries to withdraw its vantage from the registry. */
const withdrawTimeoutMs = 2000;

export async function startVantageHeartbeat(options: {
  registry: VantageRegistry;
  info: VantageInfo;
  heartbeatMs: number;
  onError: (error: unknown) => void;
}): Promise<VantageHeartbeat> {
  const { registry, info } = options;
  await registry.beat(info);
  const timer = setInterval(() => {
    registry.beat(info).catch(options.onError);
  }, options.heartbeatMs);
  timer.unref();
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        // A Redis that is away would hold the withdrawal for good; the entry expires after three missed beats.
        await waitAtMost(withdrawTimeoutMs, registry.remove(info.name).catch(options.onError));
      })();
      return closing;
    },
  };
}

/** Which vantages a request names: a list, "all", or labels with a count. */
export type VantageSelection = string[] | 'all' | { labels?: Record<string, string>; count?: number };

export type SelectionOutcome =
  | { isSelected: true; vantages: LiveVantage[] }
  | { isSelected: false; reason: string; field: string };

/**
 * A selection resolved against the recent list of live vantages; a name it misses (a vantage that came up since)
 * is looked for in a fresh read before the selection is refused.
 */
export async function selectLiveVantages(
  registry: VantageRegistry,
  selection: VantageSelection,
): Promise<SelectionOutcome> {
  const outcome = selectVantages(selection, await registry.recentList());
  return outcome.isSelected ? outcome : selectVantages(selection, await registry.list());
}

/** Resolves a selection against the live vantages; a vantage named explicitly must be live. */
export function selectVantages(selection: VantageSelection, live: LiveVantage[]): SelectionOutcome {
  if (selection === 'all') {
    if (live.length === 0) return { isSelected: false, reason: 'no vantage is live', field: 'vantages' };
    return { isSelected: true, vantages: live };
  }
  if (Array.isArray(selection)) {
    const byName = new Map(live.map((vantage) => [vantage.name, vantage]));
    for (const [index, name] of selection.entries()) {
      if (!byName.has(name)) {
        return {
          isSelected: false,
          reason: `vantage ${JSON.stringify(name)} is unknown or not live (no heartbeat in the last three beats)`,
          field: `vantages.${index}`,
        };
      }
    }
    return {
      isSelected: true,
      vantages: [...new Set(selection)].map((name) => byName.get(name) as LiveVantage),
    };
  }
  const wanted = Object.entries(selection.labels ?? {});
  const matching = live.filter((vantage) => wanted.every(([key, value]) => vantage.labels[key] === value));
  const count = selection.count ?? matching.length;
  if (matching.length === 0 || matching.length < count) {
    return {
      isSelected: false,
      reason: `${matching.length} live vantages match the labels, ${count} asked for`,
      field: 'vantages',
    };
  }
  return { isSelected: true, vantages: matching.slice(0, count) };
}
