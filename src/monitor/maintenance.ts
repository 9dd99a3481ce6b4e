// Maintenance windows: one-off (startsAt, endsAt) and recurring (a cron expression in a time zone, and a
// duration). Pure: whether a time falls inside one, and the occurrence in progress or next.
import { CronExpressionParser } from 'cron-parser';

export interface OneOffWindow {
  startsAt: string;
  endsAt: string;
  reason?: string;
}

export interface RecurringWindow {
  /** Five fields: minute hour day-of-month month day-of-week, read in `timeZone`. */
  cron: string;
  /** An IANA time zone (Europe/Paris); the cron's hours follow its daylight saving time. */
  timeZone: string;
  durationMinutes: number;
  reason?: string;
}

export interface Occurrence {
  startsAtMs: number;
  endsAtMs: number;
}

/** The occurrence of a recurring window that covers `atMs`, if one does. */
export function occurrenceAt(window: RecurringWindow, atMs: number): Occurrence | undefined {
  // The latest start at or before atMs. prev() looks strictly before its current date, to the second, hence the
  // +1 s; in the last second before a start that start is the one it finds, so one more step back. Windows that
  // overlap (a duration longer than the cron's period) all last as long, so the latest start has the latest end.
  const starts = CronExpressionParser.parse(window.cron, { currentDate: atMs + 1000, tz: window.timeZone });
  let startsAtMs = starts.prev().getTime();
  if (startsAtMs > atMs) startsAtMs = starts.prev().getTime();
  const endsAtMs = startsAtMs + window.durationMinutes * 60_000;
  return startsAtMs <= atMs && atMs < endsAtMs ? { startsAtMs, endsAtMs } : undefined;
}

/** The occurrence in progress at `atMs`, or else the next one to start. */
export function currentOrNextOccurrence(window: RecurringWindow, atMs: number): Occurrence {
  const current = occurrenceAt(window, atMs);
  if (current) return current;
  const startsAtMs = CronExpressionParser.parse(window.cron, { currentDate: atMs, tz: window.timeZone })
    .next()
    .getTime();
  return { startsAtMs, endsAtMs: startsAtMs + window.durationMinutes * 60_000 };
}

/** True when the time falls inside one of the monitor's windows, one-off or recurring. */
export function isInMaintenance(
  monitor: { maintenance: OneOffWindow[]; recurringMaintenance?: RecurringWindow[] },
  atMs: number,
): boolean {
  return (
    monitor.maintenance.some(
      (window) => Date.parse(window.startsAt) <= atMs && atMs < Date.parse(window.endsAt),
    ) || (monitor.recurringMaintenance ?? []).some((window) => occurrenceAt(window, atMs) !== undefined)
  );
}

/** Why a cron expression or time zone is not usable, or undefined when it is. */
export function recurringWindowProblem(
  cron: string,
  timeZone: string,
): { field: string; message: string } | undefined {
  if (cron.trim().split(/\s+/).length !== 5) {
    return { field: 'cron', message: 'expected five fields: minute hour day-of-month month day-of-week' };
  }
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    return { field: 'timeZone', message: `${timeZone} is not an IANA time zone` };
  }
  try {
    CronExpressionParser.parse(cron, { tz: timeZone, strict: false }).next();
  } catch (error) {
    return { field: 'cron', message: `not a cron expression: ${(error as Error).message}` };
  }
  return undefined;
}
