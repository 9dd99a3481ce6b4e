// Shared incidents in Redis: the failures seen per cause within the window, who is part of which shared incident,
// and the messages still to send (an outbox). Every change is one Lua script whose keys all sit under the monitor
// store's prefix, which is one hash-tagged group on a Cluster: one slot per script.
import type { RedisClient } from '../../redis/connection.js';
import type { SharedCauseCandidate } from './candidates.js';
import type { WindowState } from './grouping.js';

// Records this run's failure under each candidate cause (dropping it from the causes it failed with before) and
// reads the window: how many monitors there are, this one's membership, and per cause the failures and the open
// shared incident. KEYS: monitors, membership, last, open, obs(candidate)..., obs(previous)...
// ARGV: monitorId, nowMs, windowMs, candidate count, candidate keys JSON, candidate keys...
const observeScript = `
local id = ARGV[1]
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
for i = 5 + count, #KEYS do redis.call('ZREM', KEYS[i], id) end
local out = { redis.call('HLEN', KEYS[1]), redis.call('HGET', KEYS[2], id) or '' }
for i = 1, count do
  local observed = KEYS[4 + i]
  redis.call('ZADD', observed, now, id)
  redis.call('ZREMRANGEBYSCORE', observed, '-inf', '(' .. (now - window))
  redis.call('PEXPIRE', observed, window * 2)
  out[#out + 1] = redis.call('ZCARD', observed)
  out[#out + 1] = redis.call('HGET', KEYS[4], ARGV[5 + i]) or ''
end
if count > 0 then redis.call('HSET', KEYS[3], id, ARGV[5]) else redis.call('HDEL', KEYS[3], id) end
return out
`;

// Joins an open shared incident, or opens one (refused when another run opened one for the cause meanwhile:
// answers -1). Opening makes every monitor that failed with the cause in the window a member, unless it is in
// another shared incident, and is refused (-2) when fewer than the threshold are left. Answers the monitors that
// joined. KEYS: membership, open, openIds, members, affected, incident, incidents, obs. ARGV: monitorId,
// incidentId, key, nowMs, mode, threshold, then (open) the incident's fields.
const joinScript = `
local id, incident, key, mode = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local open = redis.call('HGET', KEYS[2], key)
if mode == 'join' then
  if open ~= incident then return -1 end
elseif open then return -1 end
local joining = { id }
if mode == 'open' then
  for _, monitor in ipairs(redis.call('ZRANGE', KEYS[8], 0, -1)) do
    if monitor ~= id and not redis.call('HGET', KEYS[1], monitor) then joining[#joining + 1] = monitor end
  end
  -- Monitors another shared incident explains already do not make this one.
  if #joining < tonumber(ARGV[6]) then return -2 end
  redis.call('HSET', KEYS[2], key, incident)
  redis.call('SADD', KEYS[3], incident)
  redis.call('HSET', KEYS[6], unpack(ARGV, 7))
  redis.call('ZADD', KEYS[7], ARGV[4], incident)
end
local membership = cjson.encode({ incidentId = incident, key = key })
for _, monitor in ipairs(joining) do
  redis.call('HSET', KEYS[1], monitor, membership)
  redis.call('SADD', KEYS[4], monitor)
  redis.call('SADD', KEYS[5], monitor)
end
return joining
`;

// Leaves a shared incident. The last member out (monitors deleted meanwhile do not count) resolves it and writes
// one resolve message per destination told of it into the outbox. Answers 1 when this call resolved it.
// KEYS: membership, open, openIds, members, notified, incident, obs, outbox, monitors. ARGV: monitorId,
// incidentId, key, nowMs.
const leaveScript = `
local id, incident, key, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current = redis.call('HGET', KEYS[1], id)
if current and cjson.decode(current).incidentId == incident then redis.call('HDEL', KEYS[1], id) end
redis.call('SREM', KEYS[4], id)
redis.call('ZREM', KEYS[7], id)
for _, monitor in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if redis.call('HEXISTS', KEYS[9], monitor) == 0 then
    redis.call('SREM', KEYS[4], monitor)
    redis.call('HDEL', KEYS[1], monitor)
  end
end
if redis.call('SCARD', KEYS[4]) > 0 then return 0 end
if redis.call('HGET', KEYS[2], key) ~= incident then return 0 end
redis.call('HDEL', KEYS[2], key)
redis.call('SREM', KEYS[3], incident)
redis.call('HSET', KEYS[6], 'resolvedAtMs', now)
redis.call('DEL', KEYS[7])
local notified = redis.call('HGETALL', KEYS[5])
for i = 1, #notified, 2 do
  redis.call('HSET', KEYS[8], incident .. '|resolved|' .. notified[i], notified[i + 1])
end
return 1
`;

// Remembers destinations told of a shared incident (target → how to reach it); each told for the first time gets
// an "opened" message in the outbox. KEYS: notified, outbox, open ids. ARGV: incidentId, then target, ref pairs.
const notifyScript = `
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return 0 end
local added = 0
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HSET', KEYS[2], ARGV[1] .. '|opened|' .. ARGV[i], ARGV[i + 1])
    added = added + 1
  end
end
return added
`;

export interface Membership {
  incidentId: string;
  key: string;
}

/** A destination of shared incident messages: a channel, a global webhook, or a monitor's webhook. */
export type TargetRef =
  | { channelId: string }
  | { globalIndex: number }
  | { monitorId: string; index: number };

/** One message the outbox holds: an incident opened or resolved, for one destination. */
export interface OutboxEntry {
  field: string;
  incidentId: string;
  event: 'opened' | 'resolved';
  target: string;
  ref: TargetRef;
}

export interface SharedIncidentFields {
  id: string;
  openedAtMs: number;
  candidate: SharedCauseCandidate;
  summary: string;
  name: string;
}

type ScriptName = 'reachSharedObserve' | 'reachSharedJoin' | 'reachSharedLeave' | 'reachSharedNotify';

export class SharedStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  /** `prefix` is the monitor store's key prefix (its keys and these share one slot). */
  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
    const scripts: Array<[ScriptName, string]> = [
      ['reachSharedObserve', observeScript],
      ['reachSharedJoin', joinScript],
      ['reachSharedLeave', leaveScript],
      ['reachSharedNotify', notifyScript],
    ];
    for (const [name, lua] of scripts) {
      if (!(name in redis)) redis.defineCommand(name, { lua });
    }
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  private keysOf(incidentId: string) {
    return {
      members: this.key('shared', 'members', incidentId),
      affected: this.key('shared', 'affected', incidentId),
      notified: this.key('shared', 'notified', incidentId),
      incident: this.key('incident', incidentId),
    };
  }

  private observed(key: string): string {
    return this.key('shared', 'observed', key);
  }

  private script(name: ScriptName): (...args: Array<string | number>) => Promise<unknown> {
    const command = (this.redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name];
    if (!command) throw new Error(`the ${name} script is not defined on this client`);
    return command.bind(this.redis);
  }

  /** Records a run's candidate causes (none: it is up or failed for its own reason) and reads the window. */
  async observe(
    monitorId: string,
    candidates: SharedCauseCandidate[],
    nowMs: number,
    windowMs: number,
  ): Promise<WindowState> {
    const previousText = await this.redis.hget(this.key('shared', 'last'), monitorId);
    const keys = candidates.map((candidate) => candidate.key);
    const previous = previousText ? (JSON.parse(previousText) as string[]) : [];
    const dropped = previous.filter((key) => !keys.includes(key));
    const answer = (await this.script('reachSharedObserve')(
      4 + keys.length + dropped.length,
      this.key('monitors'),
      this.key('shared', 'membership'),
      this.key('shared', 'last'),
      this.key('shared', 'open'),
      ...keys.map((key) => this.observed(key)),
      ...dropped.map((key) => this.observed(key)),
      monitorId,
      nowMs,
      windowMs,
      keys.length,
      JSON.stringify(keys),
      ...keys,
    )) as Array<string | number>;
    const membershipText = String(answer[1] ?? '');
    return {
      monitorCount: Number(answer[0]),
      ...(membershipText ? { membership: JSON.parse(membershipText) as Membership } : {}),
      keys: keys.map((key, index) => {
        const openIncidentId = String(answer[3 + index * 2] ?? '');
        return {
          key,
          observerCount: Number(answer[2 + index * 2]),
          ...(openIncidentId ? { openIncidentId } : {}),
        };
      }),
    };
  }

  /**
   * Opens the shared incident for a cause with the monitors that failed with it and no other shared incident
   * explains: 'taken' when one was opened for the cause meanwhile, 'tooFew' when fewer than `threshold` are left.
   */
  async open(
    monitorId: string,
    fields: SharedIncidentFields,
    threshold: number,
  ): Promise<string[] | 'taken' | 'tooFew'> {
    const { candidate } = fields;
    const record: Record<string, string> = {
      id: fields.id,
      kind: 'shared',
      monitorId: '',
      monitorName: fields.name,
      openedAtMs: String(fields.openedAtMs),
      cause: candidate.cause,
      code: candidate.code,
      summary: fields.summary,
      sharedKind: candidate.kind,
      sharedKey: candidate.key,
      vantage: candidate.vantage,
      ...(candidate.resolvers ? { resolvers: candidate.resolvers.join(',') } : {}),
      ...(candidate.range ? { range: candidate.range } : {}),
    };
    return this.join(monitorId, fields.id, candidate.key, fields.openedAtMs, 'open', threshold, record);
  }

  /** Joins the open shared incident for a cause; 'taken' when it was resolved meanwhile. */
  async joinOpen(
    monitorId: string,
    incidentId: string,
    key: string,
    nowMs: number,
  ): Promise<string[] | 'taken'> {
    const joined = await this.join(monitorId, incidentId, key, nowMs, 'join', 1, {});
    return joined === 'tooFew' ? 'taken' : joined;
  }

  private async join(
    monitorId: string,
    incidentId: string,
    key: string,
    nowMs: number,
    mode: 'open' | 'join',
    threshold: number,
    record: Record<string, string>,
  ): Promise<string[] | 'taken' | 'tooFew'> {
    const keys = this.keysOf(incidentId);
    const answer = await this.script('reachSharedJoin')(
      8,
      this.key('shared', 'membership'),
      this.key('shared', 'open'),
      this.key('shared', 'open-ids'),
      keys.members,
      keys.affected,
      keys.incident,
      this.key('incidents'),
      this.observed(key),
      monitorId,
      incidentId,
      key,
      nowMs,
      mode,
      threshold,
      ...Object.entries(record).flat(),
    );
    if (Array.isArray(answer)) return answer.map(String);
    return answer === -2 ? 'tooFew' : 'taken';
  }

  /** Leaves a shared incident; true when this was the last member and the incident is now resolved. */
  async leave(monitorId: string, membership: Membership, nowMs: number): Promise<boolean> {
    const keys = this.keysOf(membership.incidentId);
    const answer = await this.script('reachSharedLeave')(
      9,
      this.key('shared', 'membership'),
      this.key('shared', 'open'),
      this.key('shared', 'open-ids'),
      keys.members,
      keys.notified,
      keys.incident,
      this.observed(membership.key),
      this.key('shared', 'outbox'),
      this.key('monitors'),
      monitorId,
      membership.incidentId,
      membership.key,
      nowMs,
    );
    return answer === 1;
  }

  /**
   * Makes sure each destination has been told the incident opened (`targets`: a name per destination, so two
   * monitors with the same webhook are told once); answers how many are told now.
   */
  async notify(incidentId: string, targets: Map<string, TargetRef>): Promise<number> {
    if (targets.size === 0) return 0;
    const answer = await this.script('reachSharedNotify')(
      3,
      this.keysOf(incidentId).notified,
      this.key('shared', 'outbox'),
      this.key('shared', 'open-ids'),
      incidentId,
      ...[...targets].flatMap(([target, ref]) => [target, JSON.stringify(ref)]),
    );
    return Number(answer);
  }

  async outbox(): Promise<OutboxEntry[]> {
    const all = await this.redis.hgetall(this.key('shared', 'outbox'));
    return Object.entries(all).flatMap(([field, refText]) => {
      const [incidentId, event, target] = field.split('|');
      if (!incidentId || (event !== 'opened' && event !== 'resolved') || !target) return [];
      return [{ field, incidentId, event, target, ref: JSON.parse(refText) as TargetRef }];
    });
  }

  async clearOutbox(fields: string[]): Promise<void> {
    if (fields.length > 0) await this.redis.hdel(this.key('shared', 'outbox'), ...fields);
  }

  async membershipOf(monitorId: string): Promise<Membership | undefined> {
    const text = await this.redis.hget(this.key('shared', 'membership'), monitorId);
    return text ? (JSON.parse(text) as Membership) : undefined;
  }

  /** Ids of the shared incidents open now. */
  openIncidentIds(): Promise<string[]> {
    return this.redis.smembers(this.key('shared', 'open-ids'));
  }

  /** Monitors in the incident now, and every monitor that was part of it. */
  async membersOf(incidentId: string): Promise<{ current: string[]; affected: string[] }> {
    const keys = this.keysOf(incidentId);
    const [current, affected] = await Promise.all([
      this.redis.smembers(keys.members),
      this.redis.smembers(keys.affected),
    ]);
    return { current: current.sort(), affected: affected.sort() };
  }
}
