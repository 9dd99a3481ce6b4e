// Monitors, their state, run history, uptime counters and incidents in Redis.
import type { RedisClient } from '../redis/connection.js';
import type { HistoryEntry, MonitorRecord } from './records.js';
import type { RunResult } from './run-result.js';
import { initialStatus, type MonitorStatus } from './state-machine.js';

export const hourMs = 3_600_000;
export const dayMs = 24 * hourMs;
/** Hourly counters cover the 30-day uptime; daily counters the 90-day bar. */
const hourlyKeptHours = 30 * 24 + 1;
const dailyKeptDays = 91;
const incidentKeptMs = 90 * dayMs;
const incidentUpdatesKept = 50;
/** Durations of the most recent answered runs kept for the latency percentiles. */
export const latencySamplesKept = 100;
const healthKinds = ['up', 'degraded', 'down', 'maintenance'] as const;
export type CountKind = (typeof healthKinds)[number];

export interface Incident {
  id: string;
  monitorId: string;
  monitorName: string;
  openedAtMs: number;
  resolvedAtMs?: number;
  cause: string;
  code: string;
  summary: string;
  updates: Array<{ atMs: number; cause: string; code: string; summary: string }>;
  /** For a shared incident (one cause, many monitors; see shared-cause/): the cause it groups and who it covers. */
  shared?: SharedIncidentFacts;
  /** A monitor's own incident folded into the shared incident that turned out to explain it. */
  mergedInto?: string;
}

export interface SharedIncidentFacts {
  kind: string;
  vantage: string;
  resolvers?: string[];
  range?: string;
  /** Every monitor that was part of it, and those still failing with the cause. */
  monitorIds: string[];
  currentMonitorIds: string[];
}

export interface StoreSettings {
  keyPrefix: string;
  historyMaxAgeSeconds: number;
  historyMaxEntries: number;
}

// Compare-and-set of a monitor's status, refused when the monitor was deleted in the meantime. What the new state
// sets off (incident, webhooks, re-check: ARGV[4], JSON) is written in the same step, under the new version, so a
// worker that dies right after cannot lose it. Answers 1 when written and nothing is left to apply, 2 when written
// and consequences wait to be applied (these, or older ones a dead worker left), 0 on a conflict, -1 if deleted.
const casStatusScript = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return -1 end
local current = redis.call('HGET', KEYS[1], ARGV[1])
local version = 0
if current then version = cjson.decode(current).version end
if version ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], tostring(version + 1), ARGV[4]) end
if redis.call('EXISTS', KEYS[3]) == 1 then return 2 end
return 1
`;

// Opens an incident once: a second attempt with the same id (a re-applied consequence) changes nothing.
const openIncidentScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], redis.call('HGET', KEYS[1], 'id'))
return 1
`;

export interface CounterKeys {
  hourly: string;
  daily: string;
  latency: string;
}

export type CasOutcome = 'written' | 'writtenWithPending' | 'conflict' | 'deleted';

export class MonitorStore {
  readonly redis: RedisClient;
  private readonly settings: StoreSettings;
  private readonly prefix: string;

  constructor(redis: RedisClient, settings: StoreSettings) {
    this.redis = redis;
    this.settings = settings;
    this.prefix = settings.keyPrefix;
    if (!('reachCasStatus' in redis))
      redis.defineCommand('reachCasStatus', { numberOfKeys: 3, lua: casStatusScript });
    if (!('reachOpenIncident' in redis))
      redis.defineCommand('reachOpenIncident', { numberOfKeys: 3, lua: openIncidentScript });
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /**
   * Where a monitor's counters live: `hourly` and `daily` hashes of `<bucket>:<kind>` counts (and `<hour>:ms`),
   * and the `latency` list of recent durations. recordRun writes all three in one MULTI. The status page reads
   * them in batches (status-counters.ts).
   */
  counterKeys(id: string): CounterKeys {
    return { hourly: this.key('hourly', id), daily: this.key('daily', id), latency: this.key('latency', id) };
  }

  // --- monitors ---

  async putMonitor(record: MonitorRecord): Promise<void> {
    await this.redis.hset(this.key('monitors'), record.id, JSON.stringify(record));
  }

  async getMonitor(id: string): Promise<MonitorRecord | undefined> {
    const text = await this.redis.hget(this.key('monitors'), id);
    return text ? (JSON.parse(text) as MonitorRecord) : undefined;
  }

  /** The records of these monitors that still exist, in the order asked. */
  async monitorsById(ids: string[]): Promise<MonitorRecord[]> {
    if (ids.length === 0) return [];
    const texts = await this.redis.hmget(this.key('monitors'), ...ids);
    return texts.flatMap((text) => (text ? [JSON.parse(text) as MonitorRecord] : []));
  }

  async listMonitors(): Promise<MonitorRecord[]> {
    const all = await this.redis.hvals(this.key('monitors'));
    return all
      .map((text) => JSON.parse(text) as MonitorRecord)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async countMonitors(): Promise<number> {
    return this.redis.hlen(this.key('monitors'));
  }

  /** Deletes the monitor and everything kept about it except its incidents (the status page still lists them). */
  async deleteMonitor(id: string): Promise<boolean> {
    const results = await this.redis
      .multi()
      .hdel(this.key('monitors'), id)
      .hdel(this.key('status'), id)
      .del(
        this.key('history', id),
        this.key('hourly', id),
        this.key('daily', id),
        this.key('latency', id),
        this.key('pending', id),
      )
      .exec();
    return Number(results?.[0]?.[1] ?? 0) > 0;
  }

  // --- status ---

  async getStatus(id: string): Promise<MonitorStatus> {
    const text = await this.redis.hget(this.key('status'), id);
    return text ? (JSON.parse(text) as MonitorStatus) : initialStatus(Date.now());
  }

  /** The stored statuses of these monitors (undefined for one never run). */
  async statusesOf(ids: string[]): Promise<Array<MonitorStatus | undefined>> {
    if (ids.length === 0) return [];
    const texts = await this.redis.hmget(this.key('status'), ...ids);
    return texts.map((text) => (text ? (JSON.parse(text) as MonitorStatus) : undefined));
  }

  async getStatuses(): Promise<Map<string, MonitorStatus>> {
    const all = await this.redis.hgetall(this.key('status'));
    return new Map(Object.entries(all).map(([id, text]) => [id, JSON.parse(text) as MonitorStatus]));
  }

  /**
   * Writes `next` only if the stored version is still `expectedVersion`, and with it, atomically, the consequences
   * it sets off (kept under `next.version` until `clearPending`).
   */
  async casStatus(
    id: string,
    expectedVersion: number,
    next: MonitorStatus,
    consequences?: unknown,
  ): Promise<CasOutcome> {
    const answer = await this.script('reachCasStatus')(
      this.key('status'),
      this.key('monitors'),
      this.key('pending', id),
      id,
      String(expectedVersion),
      JSON.stringify(next),
      consequences === undefined ? '' : JSON.stringify(consequences),
    );
    if (answer === 1) return 'written';
    if (answer === 2) return 'writtenWithPending';
    return answer === 0 ? 'conflict' : 'deleted';
  }

  /** Consequences written with a state and not yet applied, oldest first. */
  async pendingConsequences(id: string): Promise<Array<{ version: number; consequences: unknown }>> {
    const all = await this.redis.hgetall(this.key('pending', id));
    return Object.entries(all)
      .map(([version, text]) => ({ version: Number(version), consequences: JSON.parse(text) as unknown }))
      .sort((a, b) => a.version - b.version);
  }

  async clearPending(id: string, version: number): Promise<void> {
    await this.redis.hdel(this.key('pending', id), String(version));
  }

  private script(name: 'reachCasStatus' | 'reachOpenIncident'): (...args: string[]) => Promise<number> {
    const command = (this.redis as unknown as Record<string, (...args: string[]) => Promise<number>>)[name];
    if (!command) throw new Error(`the ${name} script is not defined on this client`);
    return command.bind(this.redis);
  }

  // --- history and counters ---

  /** Appends a run to the history (trimmed by age and count) and counts it in the hourly and daily buckets. */
  async recordRun(id: string, run: RunResult): Promise<void> {
    const { historyMaxAgeSeconds: maxAgeSeconds, historyMaxEntries: maxEntries } = this.settings;
    const atMs = run.startedAtMs;
    const kind: CountKind = run.entry.isMaintenance ? 'maintenance' : run.entry.health;
    const hour = Math.floor(atMs / hourMs);
    const day = Math.floor(atMs / dayMs);
    const historyKey = this.key('history', id);
    const multi = this.redis.multi();
    if (kind === 'up' || kind === 'degraded') {
      multi
        .lpush(this.key('latency', id), String(Math.round(run.entry.durationMs)))
        .ltrim(this.key('latency', id), 0, latencySamplesKept - 1);
    }
    await multi
      .zadd(historyKey, atMs, JSON.stringify(run.entry))
      .zremrangebyscore(historyKey, '-inf', `(${Date.now() - maxAgeSeconds * 1000}`)
      .zremrangebyrank(historyKey, 0, -(maxEntries + 1))
      .hincrby(this.key('hourly', id), `${hour}:${kind}`, 1)
      .hincrby(this.key('hourly', id), `${hour}:ms`, Math.round(run.entry.durationMs))
      .hdel(
        this.key('hourly', id),
        ...[...healthKinds, 'ms'].map((name) => `${hour - hourlyKeptHours}:${name}`),
      )
      .hincrby(this.key('daily', id), `${day}:${kind}`, 1)
      .hdel(this.key('daily', id), ...healthKinds.map((name) => `${day - dailyKeptDays}:${name}`))
      .exec();
  }

  /** Most recent first. */
  async history(id: string, options: { sinceMs?: number; limit: number }): Promise<HistoryEntry[]> {
    const texts = await this.redis.zrevrangebyscore(
      this.key('history', id),
      '+inf',
      options.sinceMs ?? '-inf',
      'LIMIT',
      0,
      options.limit,
    );
    return texts.map((text) => JSON.parse(text) as HistoryEntry);
  }

  /** Counts per kind of each bucket `from..to` (inclusive, oldest first) of the hourly or daily counters. */
  async bucketCounts(
    id: string,
    granularity: 'hourly' | 'daily',
    from: number,
    to: number,
  ): Promise<Array<Record<CountKind, number>>> {
    if (to < from) return [];
    const indexes = Array.from({ length: to - from + 1 }, (_, offset) => from + offset);
    const fields = indexes.flatMap((index) => healthKinds.map((kind) => `${index}:${kind}`));
    const values = await this.redis.hmget(this.key(granularity, id), ...fields);
    return indexes.map((_, bucket) => {
      const counts: Record<CountKind, number> = { up: 0, degraded: 0, down: 0, maintenance: 0 };
      healthKinds.forEach((kind, kindIndex) => {
        counts[kind] = Number(values[bucket * healthKinds.length + kindIndex] ?? 0);
      });
      return counts;
    });
  }

  /** Durations of the last answered runs (up or degraded, outside maintenance), newest first. */
  async recentDurations(id: string): Promise<number[]> {
    const texts = await this.redis.lrange(this.key('latency', id), 0, -1);
    return texts.map(Number);
  }

  // --- incidents ---

  /** Opens the incident unless one with its id exists already (so applying the same consequence twice is safe). */
  async openIncident(incident: Omit<Incident, 'updates' | 'resolvedAtMs'>): Promise<void> {
    const key = this.key('incident', incident.id);
    const update = {
      atMs: incident.openedAtMs,
      cause: incident.cause,
      code: incident.code,
      summary: incident.summary,
    };
    const fields = {
      id: incident.id,
      monitorId: incident.monitorId,
      monitorName: incident.monitorName,
      openedAtMs: String(incident.openedAtMs),
      cause: incident.cause,
      code: incident.code,
      summary: incident.summary,
    };
    const opened = await this.script('reachOpenIncident')(
      key,
      `${key}:updates`,
      this.key('incidents'),
      String(incident.openedAtMs),
      JSON.stringify(update),
      ...Object.entries(fields).flat(),
    );
    if (opened === 1) await this.trimIncidents(Date.now());
  }

  /** Records a verdict seen while the incident lasts, when it differs from the last one recorded. */
  async recordIncidentVerdict(
    incidentId: string,
    verdict: { atMs: number; cause: string; code: string; summary: string },
  ): Promise<void> {
    const key = this.key('incident', incidentId);
    const last = await this.redis.lindex(`${key}:updates`, -1);
    if (last) {
      const previous = JSON.parse(last) as { cause: string; code: string };
      if (previous.cause === verdict.cause && previous.code === verdict.code) return;
    }
    await this.redis
      .multi()
      .rpush(`${key}:updates`, JSON.stringify(verdict))
      .ltrim(`${key}:updates`, -incidentUpdatesKept, -1)
      .hset(key, { cause: verdict.cause, code: verdict.code, summary: verdict.summary })
      .exec();
  }

  /** Resolves the incident; one resolved already (or folded into a shared one) keeps its time. */
  async resolveIncident(incidentId: string, resolvedAtMs: number): Promise<void> {
    await this.redis.hsetnx(this.key('incident', incidentId), 'resolvedAtMs', String(resolvedAtMs));
  }

  /** Folds a monitor's own incident into the shared incident that explains it: it ends there. */
  async foldIncident(incidentId: string, into: string, atMs: number): Promise<void> {
    const key = this.key('incident', incidentId);
    if ((await this.redis.exists(key)) === 0) return;
    await this.redis.multi().hset(key, 'mergedInto', into).hsetnx(key, 'resolvedAtMs', String(atMs)).exec();
  }

  async getIncident(incidentId: string): Promise<Incident | undefined> {
    const key = this.key('incident', incidentId);
    const [fields, updates, current, affected] = await Promise.all([
      this.redis.hgetall(key),
      this.redis.lrange(`${key}:updates`, 0, -1),
      this.redis.smembers(this.key('shared', 'members', incidentId)),
      this.redis.smembers(this.key('shared', 'affected', incidentId)),
    ]);
    if (!fields.id) return undefined;
    const shared: SharedIncidentFacts | undefined =
      fields.kind === 'shared'
        ? {
            kind: fields.sharedKind ?? '',
            vantage: fields.vantage ?? '',
            ...(fields.resolvers ? { resolvers: fields.resolvers.split(',') } : {}),
            ...(fields.range ? { range: fields.range } : {}),
            monitorIds: affected.sort(),
            currentMonitorIds: current.sort(),
          }
        : undefined;
    return {
      id: fields.id,
      monitorId: fields.monitorId ?? '',
      monitorName: fields.monitorName ?? '',
      openedAtMs: Number(fields.openedAtMs),
      ...(fields.resolvedAtMs ? { resolvedAtMs: Number(fields.resolvedAtMs) } : {}),
      cause: fields.cause ?? '',
      code: fields.code ?? '',
      summary: fields.summary ?? '',
      updates: updates.map((text) => JSON.parse(text) as Incident['updates'][number]),
      ...(shared ? { shared } : {}),
      ...(fields.mergedInto ? { mergedInto: fields.mergedInto } : {}),
    };
  }

  /** Incidents opened since `sinceMs`, newest first, plus any older one still open. */
  async incidentsSince(sinceMs: number, openIds: string[]): Promise<Incident[]> {
    const [recentIds, sharedOpenIds] = await Promise.all([
      this.redis.zrevrangebyscore(this.key('incidents'), '+inf', sinceMs),
      this.redis.smembers(this.key('shared', 'open-ids')),
    ]);
    const ids = [...new Set([...openIds, ...sharedOpenIds, ...recentIds])];
    const incidents = await Promise.all(ids.map((id) => this.getIncident(id)));
    return incidents
      .filter((incident): incident is Incident => incident !== undefined)
      .sort((a, b) => b.openedAtMs - a.openedAtMs);
  }

  private async trimIncidents(nowMs: number): Promise<void> {
    const expired = await this.redis.zrangebyscore(
      this.key('incidents'),
      '-inf',
      `(${nowMs - incidentKeptMs}`,
    );
    if (expired.length === 0) return;
    const multi = this.redis.multi();
    for (const id of expired) {
      const key = this.key('incident', id);
      multi
        .del(
          key,
          `${key}:updates`,
          this.key('shared', 'members', id),
          this.key('shared', 'affected', id),
          this.key('shared', 'notified', id),
        )
        .zrem(this.key('incidents'), id);
    }
    await multi.exec();
  }
}
