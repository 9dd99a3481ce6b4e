// Which reading of INFO MEMORY decides "near the cap": one server's, or on a Cluster the fullest master's.
import { describe, expect, it } from 'vitest';
import { fullestOf, parseMemoryInfo } from '../../../src/redis/memory.js';

describe('the memory reading', () => {
  it('reads used_memory and maxmemory from INFO MEMORY', () => {
    const info = '# Memory\r\nused_memory:2048\r\nused_memory_human:2.00K\r\nmaxmemory:4096\r\n';
    expect(parseMemoryInfo(info)).toEqual({ usedBytes: 2048, maxBytes: 4096 });
  });

  it('takes the master nearest its cap, whatever its size, and no cap when none has one', () => {
    const roomy = { usedBytes: 900_000, maxBytes: 10_000_000 };
    const nearlyFull = { usedBytes: 95_000, maxBytes: 100_000 };
    const uncapped = { usedBytes: 50_000_000, maxBytes: 0 };
    expect(fullestOf([roomy, uncapped, nearlyFull])).toEqual(nearlyFull);
    expect(fullestOf([uncapped, uncapped])).toEqual({ usedBytes: 0, maxBytes: 0 });
    expect(fullestOf([])).toEqual({ usedBytes: 0, maxBytes: 0 });
  });
});
