// Maintenance windows: one-off and recurring (cron in a time zone), and the occurrence the status page shows.
import { describe, expect, it } from 'vitest';
import {
  currentOrNextOccurrence,
  isInMaintenance,
  occurrenceAt,
  recurringWindowProblem,
} from '../../../src/monitor/maintenance.js';

const at = (text: string) => Date.parse(text);

describe('one-off windows', () => {
  const monitor = { maintenance: [{ startsAt: '2026-01-01T10:00:00Z', endsAt: '2026-01-01T11:00:00Z' }] };
  it('is in maintenance inside a window, including its start, and not at its end', () => {
    expect(isInMaintenance(monitor, at('2026-01-01T10:00:00Z'))).toBe(true);
    expect(isInMaintenance(monitor, at('2026-01-01T10:59:59Z'))).toBe(true);
    expect(isInMaintenance(monitor, at('2026-01-01T11:00:00Z'))).toBe(false);
    expect(isInMaintenance(monitor, at('2026-01-01T09:59:59Z'))).toBe(false);
  });
});

describe('recurring windows', () => {
  // Sundays 02:00-03:00 Paris time: 01:00Z in winter (CET), 00:00Z in summer (CEST).
  const sunday = { cron: '0 2 * * 0', timeZone: 'Europe/Paris', durationMinutes: 60 };
  const monitor = { maintenance: [], recurringMaintenance: [sunday] };

  it('follows the time zone, daylight saving time included', () => {
    expect(isInMaintenance(monitor, at('2026-11-29T01:00:00Z'))).toBe(true);
    expect(isInMaintenance(monitor, at('2026-11-29T01:59:59Z'))).toBe(true);
    expect(isInMaintenance(monitor, at('2026-11-29T02:00:00Z'))).toBe(false);
    expect(isInMaintenance(monitor, at('2026-11-29T00:30:00Z'))).toBe(false);
    expect(isInMaintenance(monitor, at('2026-07-05T00:30:00Z'))).toBe(true);
    expect(isInMaintenance(monitor, at('2026-07-05T01:30:00Z'))).toBe(false);
    // A Monday at the same hour is not a Sunday.
    expect(isInMaintenance(monitor, at('2026-11-30T01:30:00Z'))).toBe(false);
  });

  it('gives the occurrence in progress, or the next one', () => {
    expect(occurrenceAt(sunday, at('2026-11-29T01:30:00Z'))).toEqual({
      startsAtMs: at('2026-11-29T01:00:00Z'),
      endsAtMs: at('2026-11-29T02:00:00Z'),
    });
    expect(currentOrNextOccurrence(sunday, at('2026-11-30T08:00:00Z'))).toEqual({
      startsAtMs: at('2026-12-06T01:00:00Z'),
      endsAtMs: at('2026-12-06T02:00:00Z'),
    });
  });

  it('stays in a window through the last second before the next start, and starts one on the second', () => {
    // A second short of the next start, prev() finds that start: the one in progress must still count.
    const everyMinute = { cron: '* * * * *', timeZone: 'Europe/Paris', durationMinutes: 120 };
    expect(occurrenceAt(everyMinute, at('2026-11-30T12:34:59.500Z'))).toEqual({
      startsAtMs: at('2026-11-30T12:34:00Z'),
      endsAtMs: at('2026-11-30T14:34:00Z'),
    });
    expect(
      isInMaintenance(
        { maintenance: [], recurringMaintenance: [everyMinute] },
        at('2026-11-30T12:34:59.999Z'),
      ),
    ).toBe(true);
    // Windows that do not overlap: not yet in the one a second away, in it from its first millisecond.
    expect(isInMaintenance(monitor, at('2026-11-29T00:59:59.500Z'))).toBe(false);
    expect(isInMaintenance(monitor, at('2026-11-29T01:00:00.000Z'))).toBe(true);
  });

  it('names what is wrong with a cron expression or a time zone', () => {
    expect(recurringWindowProblem('0 2 * * 0', 'Europe/Paris')).toBeUndefined();
    expect(recurringWindowProblem('0 0 2 * * 0', 'UTC')?.field).toBe('cron');
    expect(recurringWindowProblem('0 25 * * *', 'UTC')?.field).toBe('cron');
    expect(recurringWindowProblem('0 2 * * 0', 'Mars/Olympus')?.field).toBe('timeZone');
  });
});
