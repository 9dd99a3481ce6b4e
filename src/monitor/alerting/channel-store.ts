// Notification channels in Redis: one hash, channel id → record as JSON.
import type { RedisClient } from '../../redis/connection.js';
import type { ChannelRecord } from './channel-settings.js';

/**
 * Every channel key is built here. All channels live in one hash whose name is a hash tag, so every command on
 * channels touches one slot (Redis Cluster) and a future key for them can join the same slot.
 */
export function channelKeys(keyPrefix: string): { records: string } {
  return { records: `${keyPrefix}:{channels}` };
}

export class ChannelStore {
  private readonly keys: { records: string };

  constructor(
    private readonly redis: RedisClient,
    keyPrefix: string,
  ) {
    this.keys = channelKeys(keyPrefix);
  }

  async put(record: ChannelRecord): Promise<void> {
    await this.redis.hset(this.keys.records, record.id, JSON.stringify(record));
  }

  async get(id: string): Promise<ChannelRecord | undefined> {
    const text = await this.redis.hget(this.keys.records, id);
    return text ? (JSON.parse(text) as ChannelRecord) : undefined;
  }

  async list(): Promise<ChannelRecord[]> {
    const all = await this.redis.hvals(this.keys.records);
    return all
      .map((text) => JSON.parse(text) as ChannelRecord)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** The ids among `ids` that name no channel. */
  async missing(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const found = await this.redis.hmget(this.keys.records, ...ids);
    return ids.filter((_, index) => found[index] === null);
  }

  async delete(id: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.records, id)) > 0;
  }
}
