// The shards in Redis: each shard's member set, the set of shards, and the last tick each monitor ran for.
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../../redis/connection.js';
import { type Shard, shardIdOf } from './shards.js';

// Claims the tick for each monitor that has not run it (nor a later one): the claim is what makes a shard's
// tick run each monitor once, whichever worker (or redelivery of the shard's job) gets there first.
// KEYS[1] the ticks hash; ARGV[1] the tick (ms); ARGV[2..] monitor ids. Answers the ids claimed.
const claimTicksScript = `
local tick = tonumber(ARGV[1])
local claimed = {}
for index = 2, #ARGV do
  local last = redis.call('HGET', KEYS[1], ARGV[index])
  if not last or tonumber(last) < tick then
    redis.call('HSET', KEYS[1], ARGV[index], ARGV[1])
    claimed[#claimed + 1] = ARGV[index]
  end
end
return claimed
`;

// Forgets a shard that has no member left, atomically with the check, so a monitor added at the same moment
// keeps its shard registered. KEYS[1] the shard's members, KEYS[2] the set of shards; ARGV[1] the shard's id.
const forgetIfEmptyScript = `
if redis.call('SCARD', KEYS[1]) > 0 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`;

export class ShardStore {
  constructor(
    readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    if (!('reachClaimTicks' in redis))
      redis.defineCommand('reachClaimTicks', { numberOfKeys: 1, lua: claimTicksScript });
    if (!('reachForgetShardIfEmpty' in redis))
      redis.defineCommand('reachForgetShardIfEmpty', { numberOfKeys: 2, lua: forgetIfEmptyScript });
  }

  private key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  membersKey(shard: Shard): string {
    return this.key(shardIdOf(shard));
  }

  private get shardsKey(): string {
    return this.key('shards');
  }

  private get ticksKey(): string {
    return this.key('ticks');
  }

  /** Puts the monitor in its shard (and out of the one it was in, when its interval changed). */
  async place(monitorId: string, shard: Shard, previous?: Shard): Promise<void> {
    const multi = this.redis.multi();
    if (previous && shardIdOf(previous) !== shardIdOf(shard))
      multi.srem(this.membersKey(previous), monitorId);
    await multi.sadd(this.membersKey(shard), monitorId).sadd(this.shardsKey, shardIdOf(shard)).exec();
  }

  /** Puts new monitors in their shards, in one MULTI for all of them. */
  async placeMany(groups: ReadonlyArray<{ shard: Shard; ids: string[] }>): Promise<void> {
    if (groups.length === 0) return;
    const multi = this.redis.multi();
    this.placeManyIn(multi, groups);
    await multi.exec();
  }

  /** placeMany's writes, added to a transaction of the caller's (the one that writes the monitors' records). */
  placeManyIn(transaction: ChainableCommander, groups: ReadonlyArray<{ shard: Shard; ids: string[] }>): void {
    if (groups.length === 0) return;
    for (const { shard, ids } of groups) if (ids.length > 0) transaction.sadd(this.membersKey(shard), ...ids);
    transaction.sadd(this.shardsKey, ...groups.map(({ shard }) => shardIdOf(shard)));
  }

  /** The member count of each registered shard, by shard id: one SCARD each, in one pipeline. */
  async memberCounts(): Promise<Map<string, number>> {
    const shards = await this.registered();
    const counts = new Map<string, number>();
    if (shards.length === 0) return counts;
    const pipeline = this.redis.pipeline();
    for (const id of shards) pipeline.scard(this.key(id));
    const replies = (await pipeline.exec()) ?? [];
    shards.forEach((id, index) => {
      const [error, count] = replies[index] ?? [new Error('no reply to SCARD')];
      if (error) throw error;
      counts.set(id, Number(count));
    });
    return counts;
  }

  /** The records' change count (MonitorStore.recordsVersion) the last full reconcile of memberships read. */
  async reconciledVersion(): Promise<string | undefined> {
    return (await this.redis.get(this.key('reconciled-version'))) ?? undefined;
  }

  async setReconciledVersion(version: string): Promise<void> {
    await this.redis.set(this.key('reconciled-version'), version);
  }

  /** Takes the monitor out of its shard and forgets its last tick. */
  async remove(monitorId: string, shard: Shard): Promise<void> {
    await this.redis.multi().srem(this.membersKey(shard), monitorId).hdel(this.ticksKey, monitorId).exec();
  }

  async members(shard: Shard): Promise<string[]> {
    return this.redis.smembers(this.membersKey(shard));
  }

  async memberCount(shard: Shard): Promise<number> {
    return this.redis.scard(this.membersKey(shard));
  }

  /** Ids of the shards that have (or had, until the next reconcile) members. */
  async registered(): Promise<string[]> {
    return this.redis.smembers(this.shardsKey);
  }

  /** Adds and removes members in one step, registering the shard. */
  async amend(shard: Shard, added: string[], removed: string[]): Promise<void> {
    const multi = this.redis.multi();
    if (added.length > 0) multi.sadd(this.membersKey(shard), ...added).sadd(this.shardsKey, shardIdOf(shard));
    if (removed.length > 0) multi.srem(this.membersKey(shard), ...removed);
    await multi.exec();
  }

  async register(shard: Shard): Promise<void> {
    await this.redis.sadd(this.shardsKey, shardIdOf(shard));
  }

  /** Forgets the shard if it has no member; answers whether it did. */
  async forgetIfEmpty(shard: Shard): Promise<boolean> {
    const command = (this.redis as unknown as Record<string, (...args: string[]) => Promise<number>>)
      .reachForgetShardIfEmpty;
    if (!command) throw new Error('the reachForgetShardIfEmpty script is not defined on this client');
    return (await command.call(this.redis, this.membersKey(shard), this.shardsKey, shardIdOf(shard))) === 1;
  }

  /** The ids (of those given) that have not run `tickMs` or a later tick yet. */
  async notYetRun(monitorIds: string[], tickMs: number): Promise<string[]> {
    if (monitorIds.length === 0) return [];
    const lastTicks = await this.redis.hmget(this.ticksKey, ...monitorIds);
    return monitorIds.filter((_, index) => {
      const last = lastTicks[index];
      return last === null || last === undefined || Number(last) < tickMs;
    });
  }

  /** Claims `tickMs` for each monitor that has not run it; answers the ids this caller may record a run for. */
  async claim(monitorIds: string[], tickMs: number): Promise<Set<string>> {
    if (monitorIds.length === 0) return new Set();
    const command = (this.redis as unknown as Record<string, (...args: string[]) => Promise<string[]>>)
      .reachClaimTicks;
    if (!command) throw new Error('the reachClaimTicks script is not defined on this client');
    return new Set(await command.call(this.redis, this.ticksKey, String(tickMs), ...monitorIds));
  }
}
