// The uptime counters of one monitor in one Redis string: a ring of hourly buckets, then a ring of daily ones.
// Each bucket is 20 bytes, big-endian: its index (hours or days since the epoch), then the up, degraded, down
// and maintenance counts (uint32 each). The store's script counts a run into both rings in place.

export const countKinds = ['up', 'degraded', 'down', 'maintenance'] as const;
export type CountKind = (typeof countKinds)[number];
export type Counts = Record<CountKind, number>;

export const bucketBytes = 20;
/**
 * Hours kept: the 24-hour uptime reads the current hour and the 24 before it. 30 hours and 91 days are 2,420
 * bytes, inside jemalloc's 2.5 KiB size class.
 */
export const hourlySlots = 30;
/** Days kept: the 90-day bar (today and 89 before it), the 7- and 30-day uptimes, one more. */
export const dailySlots = 91;
export const countsBytes = (hourlySlots + dailySlots) * bucketBytes;

export type Granularity = 'hourly' | 'daily';

export function zeroCounts(): Counts {
  return { up: 0, degraded: 0, down: 0, maintenance: 0 };
}

const regions: Record<Granularity, { offset: number; slots: number }> = {
  hourly: { offset: 0, slots: hourlySlots },
  daily: { offset: hourlySlots * bucketBytes, slots: dailySlots },
};

/** Where the bucket of this index sits in the counters string. */
export function bucketOffset(granularity: Granularity, index: number): number {
  const region = regions[granularity];
  return region.offset + (index % region.slots) * bucketBytes;
}

/** The byte range (inclusive, for GETRANGE) of a whole region. */
export function regionRange(granularity: Granularity): [number, number] {
  const region = regions[granularity];
  return [region.offset, region.offset + region.slots * bucketBytes - 1];
}

/** Counts of one bucket read with GETRANGE at bucketOffset (zero when the slot holds another bucket). */
export function countsOfBucket(bytes: Buffer | null, index: number): Counts {
  if (!bytes || bytes.length < bucketBytes || bytes.readUInt32BE(0) !== index) return zeroCounts();
  return {
    up: bytes.readUInt32BE(4),
    degraded: bytes.readUInt32BE(8),
    down: bytes.readUInt32BE(12),
    maintenance: bytes.readUInt32BE(16),
  };
}

/**
 * Counts of the buckets `from..to` (oldest first) out of a whole region read with GETRANGE at regionRange; a
 * bucket the ring no longer (or never) held counts zero.
 */
export function countsOfRegion(
  bytes: Buffer | null,
  granularity: Granularity,
  from: number,
  to: number,
): Counts[] {
  const { slots } = regions[granularity];
  const buckets: Counts[] = [];
  for (let index = from; index <= to; index += 1) {
    const offset = (index % slots) * bucketBytes;
    buckets.push(bytes ? countsOfBucket(bytes.subarray(offset, offset + bucketBytes), index) : zeroCounts());
  }
  return buckets;
}
