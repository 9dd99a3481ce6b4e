// The report's `startedAt`, formatted with the second cached, is what Date#toISOString gives for every millisecond.
import { describe, expect, it } from 'vitest';
import { isoTimestamp } from '../../src/engine.js';

describe('isoTimestamp', () => {
  it('matches Date#toISOString at every millisecond padding, across seconds, days and years', () => {
    const starts = [
      0,
      Date.UTC(2026, 10, 30, 17, 59, 59),
      Date.UTC(1999, 11, 31, 23, 59, 59),
      Date.UTC(2024, 1, 29),
    ];
    for (const start of starts) {
      for (let ms = start; ms < start + 2001; ms += 7) {
        expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
      }
      for (const ms of [start, start + 5, start + 50, start + 999, start + 1000, start + 1001]) {
        expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
      }
    }
  });

  it('answers right when the clock goes back a second', () => {
    const now = Date.UTC(2026, 10, 30, 12, 0, 0, 250);
    expect(isoTimestamp(now)).toBe('2026-11-30T12:00:00.250Z');
    expect(isoTimestamp(now - 1000)).toBe('2026-11-30T11:59:59.250Z');
    expect(isoTimestamp(now)).toBe('2026-11-30T12:00:00.250Z');
  });
});
