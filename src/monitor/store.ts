// Monitors, their state, run history, uptime counters and incidents in Redis.
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/connection.js';
import { encodeRun, entryOfRecord, flagBits, recordBytes, recordsOfRing } from './history/codec.js';
import {
  type CountKind,
  countKinds,
  countsOfRegion,
  type Granularity,
  regionRange,
} from './history/counts.js';
import { importRunsScript, migrateCountsScript, recordRunScript } from './history/scripts.js';
import type { HistoryEntry, MonitorRecord } from './records.js';
import type { RunResult } from './run-result.js';
import { initialStatus, type LastRun, type MonitorStatus } from './state-machine.js';

export const hourMs = 3_600_000;
export const dayMs = 24 * hourMs;
const incidentKeptMs = 90 * dayMs;
const incidentUpdatesKept = 50;
/** Durations of the most recent answered runs kept for the latency percentiles. */
export const latencySamplesKept = 100;
/** Changes of state whose full entries are kept beside the ring (older ones keep their exact record). */
export const changesKeptWhole = 16;
/** Tries at moving an old history that old-format writers keep changing (a rolling upgrade). */
const migrationAttempts = 5;

export type { CountKind } from './history/counts.js';

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
  /** The hourly and daily buckets in one string (history/counts.ts). */
  counts: string;
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
    if (!('reachRecordRun' in redis))
      redis.defineCommand('reachRecordRun', { numberOfKeys: 7, lua: recordRunScript });
    if (!('reachImportRuns' in redis))
      redis.defineCommand('reachImportRuns', { numberOfKeys: 3, lua: importRunsScript });
    if (!('reachMigrateCounts' in redis))
      redis.defineCommand('reachMigrateCounts', { numberOfKeys: 3, lua: migrateCountsScript });
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /**
   * Where a monitor's counters live: the hourly and daily buckets in one string (history/counts.ts) and the
   * `latency` list of recent durations. recordRun writes both in one script. The status page reads them in
   * batches (status/counters.ts).
   */
  counterKeys(id: string): CounterKeys {
    return { counts: this.key('counts', id), latency: this.key('latency', id) };
  }

  // --- monitors ---

  /**
   * The records' change count: bumped in the same transaction as every record written or deleted whose shard
   * membership is written in a step of its own, so the schedule's reconcile knows whether anything changed since
   * its last full pass (a crash or failover between the two steps leaves a record its membership does not follow).
   */
  get recordsVersionKey(): string {
    return this.key('records-version');
  }

  async putMonitor(record: MonitorRecord): Promise<void> {
    await execOrThrow(
      this.redis
        .multi()
        .hset(this.key('monitors'), record.id, JSON.stringify(record))
        .incr(this.recordsVersionKey),
    );
  }

  /**
   * Writes many records in one transaction (a bulk creation's chunk). `alongside` adds the writes that must land
   * with them (their shard memberships): the records and what follows from them then cannot part, so the change
   * count is left as it is and the reconcile has nothing to catch up on.
   */
  async putMonitors(
    records: readonly MonitorRecord[],
    alongside?: (transaction: ChainableCommander) => void,
  ): Promise<void> {
    if (records.length === 0) return;
    const transaction = this.redis
      .multi()
      .hset(this.key('monitors'), ...records.flatMap((record) => [record.id, JSON.stringify(record)]));
    if (alongside) alongside(transaction);
    else transaction.incr(this.recordsVersionKey);
    await execOrThrow(transaction);
  }

  /** The records' change count (recordsVersionKey), "0" before any write. */
  async recordsVersion(): Promise<string> {
    return (await this.redis.get(this.recordsVersionKey)) ?? '0';
  }

  async getMonitor(id: string): Promise<MonitorRecord | undefined> {
    const text = await this.redis.hget(this.key('monitors'), id);
    return text ? (JSON.parse(text) as MonitorRecord) : undefined;
  }

  /** The records of the ids given, in their order; undefined for a deleted one. */
  async getMonitors(ids: string[]): Promise<Array<MonitorRecord | undefined>> {
    if (ids.length === 0) return [];
    const texts = await this.redis.hmget(this.key('monitors'), ...ids);
    return texts.map((text) => (text ? (JSON.parse(text) as MonitorRecord) : undefined));
  }

  /** Every monitor, a page at a time (HSCAN: Redis is never held for the whole hash). */
  async *scanMonitors(pageSize = 1000): AsyncGenerator<MonitorRecord[]> {
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.key('monitors'), cursor, 'COUNT', pageSize);
      cursor = next;
      const page: MonitorRecord[] = [];
      for (let index = 1; index < flat.length; index += 2)
        page.push(JSON.parse(flat[index] as string) as MonitorRecord);
      if (page.length > 0) yield page;
    } while (cursor !== '0');
  }

  /** The records of these monitors that still exist, in the order asked. */
  async monitorsById(ids: string[]): Promise<MonitorRecord[]> {
    return (await this.getMonitors(ids)).filter((monitor) => monitor !== undefined);
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
      .incr(this.recordsVersionKey)
      .hdel(this.key('status'), id)
      .del(
        ...this.runKeys(id),
        this.key('pending', id),
        // The old format's keys, when the monitor was never migrated.
        this.key('history', id),
        this.key('hourly', id),
        this.key('daily', id),
      )
      .exec();
    return Number(results?.[0]?.[1] ?? 0) > 0;
  }

  // --- status ---

  async getStatus(id: string): Promise<MonitorStatus> {
    const text = await this.redis.hget(this.key('status'), id);
    return text ? (JSON.parse(text) as MonitorStatus) : initialStatus(Date.now());
  }

  /** The statuses of the ids given, in their order (the initial status for a monitor never run). */
  async getStatusesOf(ids: string[]): Promise<MonitorStatus[]> {
    const nowMs = Date.now();
    return (await this.statusesOf(ids)).map((status) => status ?? initialStatus(nowMs));
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

  private script(
    name:
      | 'reachCasStatus'
      | 'reachOpenIncident'
      | 'reachRecordRun'
      | 'reachImportRuns'
      | 'reachMigrateCounts',
  ): (...args: Array<string | Buffer>) => Promise<number> {
    const command = (
      this.redis as unknown as Record<string, (...args: Array<string | Buffer>) => Promise<number>>
    )[name];
    if (!command) throw new Error(`the ${name} script is not defined on this client`);
    return command.bind(this.redis);
  }

  // --- history and counters ---

  /**
   * Appends a run to the history ring and counts it in the hourly and daily buckets, in one script. The ring
   * keeps a fixed-width record of every run (start, schedule lag, trigger, health, maintenance, cause, code, HTTP
   * status, duration: all exact); the full entry (phases, warnings, vantages, certificate) of the last changes of
   * state beside it, and the latest run's in the monitor's state. History in the old format is migrated the first time it is seen.
   */
  async recordRun(id: string, run: RunResult): Promise<void> {
    const { entry } = run;
    const kind: CountKind = entry.isMaintenance ? 'maintenance' : entry.health;
    const isAnswered = kind === 'up' || kind === 'degraded';
    const oldKeys = await this.script('reachRecordRun')(
      ...this.runKeys(id),
      this.key('history', id),
      this.key('hourly', id),
      this.key('daily', id),
      encodeRun(entry),
      JSON.stringify(entry),
      String(Date.now()),
      String(this.settings.historyMaxAgeSeconds * 1000),
      String(this.settings.historyMaxEntries),
      String(changesKeptWhole),
      String(countKinds.indexOf(kind)),
      String(Math.floor(run.startedAtMs / hourMs)),
      String(Math.floor(run.startedAtMs / dayMs)),
      isAnswered ? String(Math.round(entry.durationMs)) : '',
      String(latencySamplesKept),
    );
    if (oldKeys > 0) await this.migrateMonitor(id);
  }

  /** The ring, kept entries, counters and latency samples of a monitor: the keys recordRun writes together. */
  private runKeys(id: string): [string, string, string, string] {
    return [
      this.key('runs', id),
      this.key('run-details', id),
      this.key('counts', id),
      this.key('latency', id),
    ];
  }

  /**
   * Adds many runs at once, merged with those kept by start time; what does not fit the retention is dropped.
   * The migration of an old history uses it, and so can a bulk load. Counters are not touched.
   */
  async importRuns(id: string, entries: HistoryEntry[]): Promise<number> {
    return this.importInto(id, entries, undefined);
  }

  private async importInto(
    id: string,
    entries: HistoryEntry[],
    expected: { size: number; lastScore: string } | undefined,
  ): Promise<number> {
    const sorted = [...entries].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    const runArguments: Array<string | Buffer> = [];
    let previous: Buffer | undefined;
    for (const entry of sorted) {
      const record = encodeRun(entry);
      const kind = keptKindOf(record, previous);
      // The entry itself only where it is kept whole: the record carries the rest.
      runArguments.push(record, kind, kind === '' ? '' : JSON.stringify(entry));
      previous = record;
    }
    const [ring, details] = this.runKeys(id);
    return this.script('reachImportRuns')(
      ring,
      details,
      this.key('history', id),
      String(Date.now()),
      String(this.settings.historyMaxAgeSeconds * 1000),
      String(this.settings.historyMaxEntries),
      String(changesKeptWhole),
      expected ? String(expected.size) : '',
      expected?.lastScore ?? '',
      ...runArguments,
    );
  }

  /**
   * Moves one monitor's history and counters from the old format (a sorted set of JSON entries, hashes of
   * `<bucket>:<kind>` counts) into the ring and the counters, each in one script: a run recorded meanwhile in
   * either format is neither lost nor counted twice (an old-format write in between makes the move start over).
   */
  async migrateMonitor(id: string): Promise<void> {
    await this.script('reachMigrateCounts')(
      this.key('counts', id),
      this.key('hourly', id),
      this.key('daily', id),
    );
    for (let attempt = 1; attempt <= migrationAttempts; attempt += 1) {
      const legacy = await this.redis.zrange(this.key('history', id), '0', '-1', 'WITHSCORES');
      if (legacy.length === 0) return;
      const entries: HistoryEntry[] = [];
      for (let index = 0; index < legacy.length; index += 2) {
        const entry = parsedEntry(legacy[index] ?? '');
        if (entry) entries.push(entry);
      }
      const answer = await this.importInto(id, entries, {
        size: legacy.length / 2,
        lastScore: legacy.at(-1) ?? '',
      });
      if (answer >= 0) return;
    }
    throw new Error(`the old history of monitor ${id} kept changing while it was migrated`);
  }

  /**
   * Migrates every monitor still in the old format (run once at start; recordRun also migrates a monitor the
   * first time it runs). Answers how many were migrated.
   */
  async migrateOldFormat(): Promise<number> {
    const ids = await this.redis.hkeys(this.key('monitors'));
    let migrated = 0;
    for (let start = 0; start < ids.length; start += 500) {
      const chunk = ids.slice(start, start + 500);
      const pipeline = this.redis.pipeline();
      for (const id of chunk)
        pipeline.exists(this.key('history', id), this.key('hourly', id), this.key('daily', id));
      const replies = (await pipeline.exec()) ?? [];
      for (const [index, id] of chunk.entries()) {
        if (Number(replies[index]?.[1] ?? 0) === 0) continue;
        await this.migrateMonitor(id);
        migrated += 1;
      }
    }
    return migrated;
  }

  /** Most recent first, within the maximum age. */
  async history(id: string, options: { sinceMs?: number; limit: number }): Promise<HistoryEntry[]> {
    const [ring, details] = this.runKeys(id);
    const replies =
      (await this.redis
        .pipeline()
        .getBuffer(ring)
        .hgetall(details)
        .hget(this.key('status'), id)
        .zrevrangebyscore(
          this.key('history', id),
          '+inf',
          options.sinceMs ?? '-inf',
          'LIMIT',
          0,
          options.limit,
        )
        .exec()) ?? [];
    for (const [error] of replies) if (error) throw error;
    const ringBytes = (replies[0]?.[1] ?? null) as Buffer | null;
    const kept = (replies[1]?.[1] ?? {}) as Record<string, string>;
    const statusText = (replies[2]?.[1] ?? null) as string | null;
    const oldEntries = ((replies[3]?.[1] ?? []) as string[]).flatMap((text) => parsedEntry(text) ?? []);
    const sinceMs = Math.max(options.sinceMs ?? 0, Date.now() - this.settings.historyMaxAgeSeconds * 1000);
    // The latest applied run is whole in the monitor's state: its details are not kept twice.
    const lastRun = statusText ? (JSON.parse(statusText) as MonitorStatus).lastRun : undefined;
    const entries: Array<{ atMs: number; entry: HistoryEntry }> = [];
    for (const record of ringBytes ? recordsOfRing(ringBytes) : []) {
      if (record.atMs < sinceMs) continue;
      const whole = record.hasDetail
        ? parsedEntry(
            kept[`c${record.atMs}:${record.sequence}`] ?? kept[`k${record.atMs}:${record.sequence}`] ?? '',
          )
        : undefined;
      const entry = whole ?? entryOfRecord(record);
      entries.push({ atMs: record.atMs, entry: whole || !lastRun ? entry : withLastRun(entry, lastRun) });
    }
    for (const entry of oldEntries) entries.push({ atMs: Date.parse(entry.at), entry });
    return entries
      .sort((a, b) => b.atMs - a.atMs)
      .slice(0, options.limit)
      .map(({ entry }) => entry);
  }

  /** Counts per kind of each bucket `from..to` (inclusive, oldest first) of the hourly or daily counters. */
  async bucketCounts(
    id: string,
    granularity: Granularity,
    from: number,
    to: number,
  ): Promise<Array<Record<CountKind, number>>> {
    if (to < from) return [];
    const [start, end] = regionRange(granularity);
    const bytes = await this.redis.getrangeBuffer(this.key('counts', id), start, end);
    return countsOfRegion(bytes.length > 0 ? bytes : null, granularity, from, to);
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

/** An entry of the old format or a kept one; undefined for text that is not one (it is skipped, not fatal). */
function parsedEntry(text: string): HistoryEntry | undefined {
  try {
    const value = JSON.parse(text) as HistoryEntry;
    return typeof value?.at === 'string' && typeof value.health === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What of an imported run is kept whole beside its record: `k` when the record cannot hold it, `c` when it
 * changed state from the run before (health, maintenance, cause, code or details), nothing otherwise.
 */
function keptKindOf(record: Buffer, previous: Buffer | undefined): string {
  const flags = record[9] ?? 0;
  if (flags & flagBits.mustKeep) return 'k';
  if (!previous) return 'c';
  const isSame =
    ((previous[9] ?? 0) & flagBits.stateMask) === (flags & flagBits.stateMask) &&
    previous[10] === record[10] &&
    previous[11] === record[11] &&
    previous[16] === record[16];
  return isSame || record.length !== recordBytes ? '' : 'c';
}

/** A record's entry completed from the monitor's last run when that run is this one (same start, health, code). */
function withLastRun(entry: HistoryEntry, lastRun: LastRun): HistoryEntry {
  const isSame = lastRun.at === entry.at && lastRun.health === entry.health && lastRun.code === entry.code;
  if (!isSame) return entry;
  return {
    ...entry,
    phasesMs: lastRun.phasesMs as HistoryEntry['phasesMs'],
    ...(lastRun.warnings ? { warnings: lastRun.warnings } : {}),
    ...(lastRun.vantages ? { vantages: lastRun.vantages } : {}),
    ...(lastRun.certificateNotAfter ? { certificateNotAfter: lastRun.certificateNotAfter } : {}),
  };
}

/** Runs a transaction; a command's error inside it (EXEC answers them one by one) is thrown, not left unread. */
async function execOrThrow(transaction: ChainableCommander): Promise<void> {
  for (const [error] of (await transaction.exec()) ?? []) if (error) throw error;
}
