// The status data behind /status.json and /status: gathered from the store, reading as little as stays correct.
import type { MonitorRecord } from '../records.js';
import type { MonitorStatus } from '../state-machine.js';
import type { CountKind, Incident, MonitorStore } from '../store.js';
import {
  type Counts,
  type DayReading,
  type RecentReading,
  readDayCounters,
  readRecentCounters,
  zeroCounts,
} from './counters.js';

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;
export const uptimeBarDays = 90;
const recentIncidentMs = 7 * dayMs;

export interface ComponentData {
  monitor: MonitorRecord;
  status: MonitorStatus;
  uptime: { '24h': number | null; '7d': number | null; '30d': number | null };
  latencyMs: { p50: number | null; p95: number | null };
  days: Array<{ day: string } & Record<CountKind, number>>;
}

export interface StatusData {
  generatedAtMs: number;
  components: ComponentData[];
  incidents: Incident[];
}

/** Up or degraded runs over the runs checked outside maintenance; null when there were none. */
export function uptimeOf(counts: Record<CountKind, number>): number | null {
  const checked = counts.up + counts.degraded + counts.down;
  return checked === 0 ? null : (counts.up + counts.degraded) / checked;
}

/** Nearest-rank percentile of unsorted values; null for none. */
export function percentile(values: number[], fraction: number): number | null {
  return nearestRank(
    [...values].sort((a, b) => a - b),
    fraction,
  );
}

function sumCounts(buckets: Counts[]): Counts {
  const total = zeroCounts();
  for (const bucket of buckets) {
    total.up += bucket.up;
    total.degraded += bucket.degraded;
    total.down += bucket.down;
    total.maintenance += bucket.maintenance;
  }
  return total;
}

/** Nearest rank in values already sorted ascending; null for none. */
function nearestRank(sorted: number[], fraction: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.max(1, Math.ceil(fraction * sorted.length)) - 1] ?? null;
}

type DayEntry = ComponentData['days'][number];

/** What a gathering keeps per monitor for the next one. */
interface KeptCounters {
  today: number;
  /** The 89 days before today, oldest first, labelled for the bar. */
  pastDays: DayEntry[];
  /** Sums of the last 6 and 29 of them: the 7- and 30-day uptimes add today to these. */
  pastWeek: Counts;
  pastMonth: Counts;
  hour: number;
  /** Sum of the 24 hours before the current one. */
  pastDay: Counts;
  /** Runs counted today when the current hour and the latency samples below were read. */
  runsToday: number;
  currentHour: Counts;
  latencyMs: ComponentData['latencyMs'];
}

const completedDays = uptimeBarDays - 1;
const completedHours = 24;

function runsOf(counts: Counts): number {
  return counts.up + counts.degraded + counts.down + counts.maintenance;
}

/**
 * Gathers the status data, reading as little as stays correct. Completed hours and days no longer change, so
 * they are read once per hour and per day and kept per monitor. Every gathering reads each monitor's counters
 * of today; only where today's count of runs moved (or the hour did) does it read the current hour's
 * counters and the latency samples again: MonitorStore.recordRun counts a run into the hourly and the daily
 * buckets and pushes its duration in one script, so an unchanged count means none of them changed. (A run
 * that started before midnight and is recorded after it counts into yesterday: its latency sample shows with
 * the next run.) All reads are pipelined (status-counters.ts).
 */
export class StatusDataSource {
  private readonly kept = new Map<string, KeptCounters>();

  constructor(private readonly store: MonitorStore) {}

  async gather(nowMs: number): Promise<StatusData> {
    const { store } = this;
    const today = Math.floor(nowMs / dayMs);
    const hour = Math.floor(nowMs / hourMs);
    const [monitors, statuses] = await Promise.all([store.listMonitors(), store.getStatuses()]);
    const listed = new Set(monitors.map((monitor) => monitor.id));
    for (const id of this.kept.keys()) if (!listed.has(id)) this.kept.delete(id);
    // Taken once: a gathering running at the same time may change the map while this one reads.
    const kept = monitors.map((monitor) => this.kept.get(monitor.id));
    const dayReadings = await readDayCounters(
      store,
      monitors.map((monitor, index) => ({
        id: monitor.id,
        withPastDays: kept[index]?.today !== today,
        withPastHours: kept[index]?.hour !== hour,
      })),
      { today, hour, pastDays: completedDays, pastHours: completedHours },
    );
    const stale = monitors.flatMap((_monitor, index) => {
      const previous = kept[index];
      const runsToday = runsOf(dayReadings[index]?.currentDay ?? zeroCounts());
      const isCurrent =
        previous?.today === today && previous.hour === hour && previous.runsToday === runsToday;
      return isCurrent ? [] : [index];
    });
    const recentReadings = await readRecentCounters(
      store,
      stale.map((index) => monitors[index]?.id ?? ''),
      hour,
    );
    const recentByIndex = new Map(stale.map((monitorIndex, index) => [monitorIndex, recentReadings[index]]));
    const labels = dayLabels(today);
    const todayLabel = labels[completedDays] ?? '';
    const components = monitors.map((monitor, index): ComponentData => {
      const currentDay = dayReadings[index]?.currentDay ?? zeroCounts();
      const counters = this.keep(monitor.id, kept[index], {
        today,
        hour,
        labels,
        currentDay,
        day: dayReadings[index],
        recent: recentByIndex.get(index),
      });
      return {
        monitor,
        status: statuses.get(monitor.id) ?? {
          version: 0,
          state: 'pending',
          sinceMs: Date.parse(monitor.createdAt),
          consecutiveFailures: 0,
          lastStartedAtMs: 0,
        },
        uptime: {
          '24h': uptimeOf(sumCounts([counters.pastDay, counters.currentHour])),
          '7d': uptimeOf(sumCounts([counters.pastWeek, currentDay])),
          '30d': uptimeOf(sumCounts([counters.pastMonth, currentDay])),
        },
        latencyMs: counters.latencyMs,
        days: [...counters.pastDays, { day: todayLabel, ...currentDay }],
      };
    });
    const openIds = components.flatMap((component) =>
      component.status.openIncidentId ? [component.status.openIncidentId] : [],
    );
    // A monitor's own incident folded into a shared one is told by the shared one (GET /incidents keeps both).
    const incidents = (await store.incidentsSince(nowMs - recentIncidentMs, openIds)).filter(
      (incident) => incident.mergedInto === undefined,
    );
    return { generatedAtMs: nowMs, components, incidents };
  }

  /** Merges what was read into what was kept; whatever was not kept was read (see gather). */
  private keep(
    id: string,
    kept: KeptCounters | undefined,
    now: {
      today: number;
      hour: number;
      labels: string[];
      currentDay: Counts;
      day: DayReading | undefined;
      recent: RecentReading | undefined;
    },
  ): KeptCounters {
    const { day, recent } = now;
    const days = day?.pastDays
      ? {
          today: now.today,
          pastDays: day.pastDays.map((counts, index) => ({ day: now.labels[index] ?? '', ...counts })),
          pastWeek: sumCounts(day.pastDays.slice(-6)),
          pastMonth: sumCounts(day.pastDays.slice(-29)),
        }
      : kept;
    const hours = day?.pastHours ? { hour: now.hour, pastDay: sumCounts(day.pastHours) } : kept;
    const durations = recent ? [...recent.durationsMs].sort((a, b) => a - b) : undefined;
    const latest =
      recent && durations
        ? {
            runsToday: runsOf(now.currentDay),
            currentHour: recent.currentHour,
            latencyMs: { p50: nearestRank(durations, 0.5), p95: nearestRank(durations, 0.95) },
          }
        : kept;
    if (!days || !hours || !latest)
      throw new Error(`the counters of monitor ${id} were neither kept nor read`);
    const fresh: KeptCounters = {
      today: days.today,
      pastDays: days.pastDays,
      pastWeek: days.pastWeek,
      pastMonth: days.pastMonth,
      hour: hours.hour,
      pastDay: hours.pastDay,
      runsToday: latest.runsToday,
      currentHour: latest.currentHour,
      latencyMs: latest.latencyMs,
    };
    this.kept.set(id, fresh);
    return fresh;
  }
}

/** The bar's 90 UTC dates ending today, oldest first. */
function dayLabels(today: number): string[] {
  return Array.from({ length: uptimeBarDays }, (_, index) =>
    new Date((today - uptimeBarDays + 1 + index) * dayMs).toISOString().slice(0, 10),
  );
}
