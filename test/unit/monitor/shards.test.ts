// Which shard a monitor falls in, the shard's names and its ticks: pure functions of the id and the interval.
import { describe, expect, it } from 'vitest';
import {
  memberDueAtMs,
  nextTickAtOrAfter,
  parseShardId,
  shardIdOf,
  shardOf,
  shardSliceMs,
  spreadMs,
} from '../../../src/monitor/schedule/shards.js';
import { scheduledAtOf } from '../../../src/monitor/scheduler.js';

describe('shards', () => {
  it('puts a monitor in the slice of its interval where its spread falls, stably per id and interval', () => {
    const id = '0b6f1e2a-0000-4000-8000-000000000001';
    const shard = shardOf({ id, intervalSeconds: 60 });
    expect(shard.everyMs).toBe(60_000);
    expect(shard.offsetMs % shardSliceMs).toBe(0);
    expect(spreadMs(id, 60_000) - shard.offsetMs).toBeGreaterThanOrEqual(0);
    expect(spreadMs(id, 60_000) - shard.offsetMs).toBeLessThan(shardSliceMs);
    expect(shardOf({ id, intervalSeconds: 60 })).toEqual(shard);
    expect(shardOf({ id, intervalSeconds: 120 }).everyMs).toBe(120_000);
  });

  it('makes at most one shard per slice of the interval: 240 for 10,000 monitors at 60 s', () => {
    const ids = Array.from({ length: 10_000 }, (_, index) => `monitor-${index}`);
    const shards = new Set(ids.map((id) => shardIdOf(shardOf({ id, intervalSeconds: 60 }))));
    expect(shards.size).toBe(60_000 / shardSliceMs);
  });

  it('makes each member due at its own spread in its shard’s slice of the tick', () => {
    const tickMs = 1_800_000_012_250;
    const ids = Array.from({ length: 10_000 }, (_, index) => `monitor-${index}`);
    for (const id of ids) {
      const shard = shardOf({ id, intervalSeconds: 60 });
      const dueMs = memberDueAtMs(id, shard, nextTickAtOrAfter(shard, tickMs));
      expect(dueMs % 60_000).toBe(spreadMs(id, 60_000));
      expect(dueMs - nextTickAtOrAfter(shard, tickMs)).toBeLessThan(shardSliceMs);
    }
    // Spread over the slice, not bunched at its start: each tenth of a slice holds about a tenth of the members.
    const tenths = new Array<number>(10).fill(0);
    for (const id of ids) {
      const shard = shardOf({ id, intervalSeconds: 60 });
      const tenth = Math.floor((memberDueAtMs(id, shard, 0) * 10) / shardSliceMs);
      tenths[tenth] = (tenths[tenth] ?? 0) + 1;
    }
    for (const count of tenths) expect(count).toBeGreaterThan(800);
  });

  it('reads back the shard from its name and nothing from other names', () => {
    const shard = { everyMs: 60_000, offsetMs: 12_250 };
    expect(shardIdOf(shard)).toBe('shard:60000:12250');
    expect(parseShardId('shard:60000:12250')).toEqual(shard);
    expect(parseShardId('monitor:0b6f1e2a-0000-4000-8000-000000000001')).toBeUndefined();
    expect(parseShardId('shard:60000:60000')).toBeUndefined();
    expect(parseShardId('shard:0:0')).toBeUndefined();
    expect(parseShardId('shard:60000:-1')).toBeUndefined();
  });

  it('ticks at its offset after every multiple of its interval', () => {
    const shard = { everyMs: 60_000, offsetMs: 12_250 };
    expect(nextTickAtOrAfter(shard, 1_800_000_000_000)).toBe(1_800_000_012_250);
    expect(nextTickAtOrAfter(shard, 1_800_000_012_250)).toBe(1_800_000_012_250);
    expect(nextTickAtOrAfter(shard, 1_800_000_012_251)).toBe(1_800_000_072_250);
  });

  it('reads the tick from the id of a shard scheduler job', () => {
    expect(scheduledAtOf('repeat:shard:60000:12250:1800000012250')).toBe(1_800_000_012_250);
  });
});
