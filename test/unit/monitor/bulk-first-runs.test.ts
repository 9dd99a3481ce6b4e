// The first runs of monitors created in bulk: a monitor whose first tick comes within the window has no run of its
// own; the others one each, at their own time in the window, spread over it rather than all due at once.
import { describe, expect, it } from 'vitest';
import { firstRunsOf } from '../../../src/monitor/bulk-create.js';
import type { MonitorRecord } from '../../../src/monitor/records.js';
import { memberDueAtMs, shardIdOf, shardOf, spreadMs } from '../../../src/monitor/schedule/shards.js';

const record = (index: number, intervalSeconds: number) =>
  ({ id: `5a0e0202-0000-4000-8000-${String(index).padStart(12, '0')}`, intervalSeconds }) as MonitorRecord;

describe('firstRunsOf', () => {
  const nowMs = 1_796_000_000_000;
  const withinMs = 60_000;

  it('leaves the first run to the first tick when it comes within the window', () => {
    const records = Array.from({ length: 2000 }, (_, index) => record(index, 60));
    // Every shard's next tick within the next interval: each member due within 60 s.
    const nextTicks = new Map(
      records.map((each) => {
        const shard = shardOf(each);
        const next = Math.ceil((nowMs - shard.offsetMs) / shard.everyMs) * shard.everyMs + shard.offsetMs;
        return [shardIdOf(shard), next] as const;
      }),
    );
    for (const each of records) {
      const shard = shardOf(each);
      expect(memberDueAtMs(each.id, shard, nextTicks.get(shardIdOf(shard)) ?? 0) - nowMs).toBeLessThanOrEqual(
        withinMs,
      );
    }
    expect(firstRunsOf(records, nextTicks, withinMs, nowMs)).toEqual([]);
  });

  it('gives the others a run each at its own time in the window, spread evenly over it', () => {
    const records = Array.from({ length: 6000 }, (_, index) => record(index, 3600));
    // Hour-long intervals whose next tick is an hour away, and one shard without a scheduler yet.
    const nextTicks = new Map(records.slice(1).map((each) => [shardIdOf(shardOf(each)), nowMs + 3_600_000]));
    const runs = firstRunsOf(records, nextTicks, withinMs, nowMs);
    expect(runs).toHaveLength(records.length);
    for (const run of runs) {
      expect(run.trigger).toBe('manual');
      expect(run.delayMs ?? 0).toBe(spreadMs(run.monitorId, withinMs));
    }
    // About a sixtieth of them in each second of the minute, none far above.
    const perSecond = new Array(60).fill(0);
    for (const run of runs) perSecond[Math.floor((run.delayMs ?? 0) / 1000)] += 1;
    expect(Math.max(...perSecond)).toBeLessThan((records.length / 60) * 1.5);
    expect(Math.min(...perSecond)).toBeGreaterThan((records.length / 60) * 0.5);
  });
});
