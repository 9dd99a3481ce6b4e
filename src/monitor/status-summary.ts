// The status data behind /status.json and /status: gathered from the store, mapped to the Statuspage format.
import type { MonitorRecord, MonitorState } from './schemas.js';
import type { MonitorStatus } from './state-machine.js';
import { type CounterReading, type Counts, readCounters, zeroCounts } from './status-counters.js';
import type { StatusComponent, StatusIncident, StatusSummary } from './status-schema.js';
import type { CountKind, Incident, MonitorStore } from './store.js';

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

/** What no longer changes until the next hour or day, kept per monitor: read, labelled and summed once. */
interface CompletedBuckets {
  today: number;
  /** The 89 days before today, oldest first, labelled for the bar. */
  pastDays: DayEntry[];
  /** Sums of the last 6 and 29 of them: the 7- and 30-day uptimes add today to these. */
  pastWeek: Counts;
  pastMonth: Counts;
  hour: number;
  /** Sum of the 24 hours before the current one. */
  pastDay: Counts;
}

const completedDays = uptimeBarDays - 1;
const completedHours = 24;

/**
 * Gathers the status data. Completed hours and days no longer change, so they are read once per hour and
 * per day and kept per monitor; each gathering then reads only the current hour's and day's counters and the
 * latency samples, for all monitors in a few pipelines (see readCounters).
 */
export class StatusDataSource {
  private readonly completed = new Map<string, CompletedBuckets>();

  /** `keyPrefix`: the MonitorStore's, whose counters readCounters reads directly. */
  constructor(
    private readonly store: MonitorStore,
    private readonly keyPrefix: string,
  ) {}

  async gather(nowMs: number): Promise<StatusData> {
    const { store } = this;
    const today = Math.floor(nowMs / dayMs);
    const hour = Math.floor(nowMs / hourMs);
    const [monitors, statuses] = await Promise.all([store.listMonitors(), store.getStatuses()]);
    const listed = new Set(monitors.map((monitor) => monitor.id));
    for (const id of this.completed.keys()) if (!listed.has(id)) this.completed.delete(id);
    // Taken once: a gathering running at the same time may change the map while this one reads.
    const kept = monitors.map((monitor) => this.completed.get(monitor.id));
    const readings = await readCounters(
      store.redis,
      this.keyPrefix,
      monitors.map((monitor, index) => ({
        id: monitor.id,
        withPastDays: kept[index]?.today !== today,
        withPastHours: kept[index]?.hour !== hour,
      })),
      { today, hour, pastDays: completedDays, pastHours: completedHours },
    );
    const labels = dayLabels(today);
    const todayLabel = labels[completedDays] ?? '';
    const components = monitors.map((monitor, index): ComponentData => {
      const reading = readings[index] ?? {
        currentHour: zeroCounts(),
        currentDay: zeroCounts(),
        durationsMs: [],
      };
      const completed = this.keepCompleted(monitor.id, kept[index], reading, { today, hour, labels });
      const { currentDay } = reading;
      const durations = [...reading.durationsMs].sort((a, b) => a - b);
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
          '24h': uptimeOf(sumCounts([completed.pastDay, reading.currentHour])),
          '7d': uptimeOf(sumCounts([completed.pastWeek, currentDay])),
          '30d': uptimeOf(sumCounts([completed.pastMonth, currentDay])),
        },
        latencyMs: { p50: nearestRank(durations, 0.5), p95: nearestRank(durations, 0.95) },
        days: [...completed.pastDays, { day: todayLabel, ...currentDay }],
      };
    });
    const openIds = components.flatMap((component) =>
      component.status.openIncidentId ? [component.status.openIncidentId] : [],
    );
    const incidents = await store.incidentsSince(nowMs - recentIncidentMs, openIds);
    return { generatedAtMs: nowMs, components, incidents };
  }

  private keepCompleted(
    id: string,
    kept: CompletedBuckets | undefined,
    reading: CounterReading,
    now: { today: number; hour: number; labels: string[] },
  ): CompletedBuckets {
    const days = reading.pastDays
      ? {
          today: now.today,
          pastDays: reading.pastDays.map((counts, index) => ({ day: now.labels[index] ?? '', ...counts })),
          pastWeek: sumCounts(reading.pastDays.slice(-6)),
          pastMonth: sumCounts(reading.pastDays.slice(-29)),
        }
      : kept;
    const hours = reading.pastHours ? { hour: now.hour, pastDay: sumCounts(reading.pastHours) } : kept;
    // readCounters was asked for whatever was not kept, so neither is missing.
    if (!days || !hours) throw new Error(`the completed buckets of monitor ${id} were neither kept nor read`);
    const fresh: CompletedBuckets = {
      today: days.today,
      pastDays: days.pastDays,
      pastWeek: days.pastWeek,
      pastMonth: days.pastMonth,
      hour: hours.hour,
      pastDay: hours.pastDay,
    };
    this.completed.set(id, fresh);
    return fresh;
  }
}

/** The bar's 90 UTC dates ending today, oldest first. */
function dayLabels(today: number): string[] {
  return Array.from({ length: uptimeBarDays }, (_, index) =>
    new Date((today - uptimeBarDays + 1 + index) * dayMs).toISOString().slice(0, 10),
  );
}

/** One gathering without a cache of completed buckets (tools and benchmarks). */
export function gatherStatusData(store: MonitorStore, keyPrefix: string, nowMs: number): Promise<StatusData> {
  return new StatusDataSource(store, keyPrefix).gather(nowMs);
}

const componentStatusOf: Record<MonitorState, StatusComponent['status']> = {
  pending: 'operational',
  up: 'operational',
  degraded: 'degraded_performance',
  down: 'major_outage',
  maintenance: 'under_maintenance',
};

export function overallStatus(states: MonitorState[]): StatusSummary['status'] {
  const checked = states.filter((state) => state !== 'pending' && state !== 'maintenance');
  const downCount = checked.filter((state) => state === 'down').length;
  if (downCount > 0 && downCount === checked.length)
    return { indicator: 'critical', description: 'Major Service Outage' };
  if (downCount > 0) return { indicator: 'major', description: 'Partial System Outage' };
  if (checked.some((state) => state === 'degraded'))
    return { indicator: 'minor', description: 'Minor Service Outage' };
  if (states.some((state) => state === 'maintenance'))
    return { indicator: 'none', description: 'Service Under Maintenance' };
  return { indicator: 'none', description: 'All Systems Operational' };
}

export interface PageIdentity {
  id: string;
  name: string;
  url: string;
}

export function toStatusSummary(data: StatusData, page: PageIdentity): StatusSummary {
  const updatedAt = new Date(data.generatedAtMs).toISOString();
  const components: StatusComponent[] = data.components.map((component, index) => {
    const { monitor, status } = component;
    const lastRun = status.lastRun;
    return {
      id: monitor.id,
      name: monitor.name,
      status: componentStatusOf[status.state],
      created_at: monitor.createdAt,
      updated_at: new Date(Math.max(Date.parse(monitor.updatedAt), status.sinceMs)).toISOString(),
      position: index + 1,
      description: null,
      showcase: true,
      start_date: monitor.createdAt.slice(0, 10),
      group_id: null,
      page_id: page.id,
      group: false,
      only_show_if_degraded: false,
      reach: {
        monitorId: monitor.id,
        url: monitor.url,
        state: status.state,
        stateSince: new Date(status.sinceMs).toISOString(),
        tags: monitor.tags,
        uptime: component.uptime,
        latencyMs: component.latencyMs,
        lastVerdict: lastRun
          ? { at: lastRun.at, cause: lastRun.cause, code: lastRun.code, summary: lastRun.summary }
          : null,
      },
    };
  });
  const componentById = new Map(components.map((component) => [component.id, component]));
  const toIncident = (incident: Incident): StatusIncident => {
    const component = componentById.get(incident.monitorId);
    const { reach: _extension, ...plainComponent } = component ?? ({} as StatusComponent);
    const isResolved = incident.resolvedAtMs !== undefined;
    const openedAt = new Date(incident.openedAtMs).toISOString();
    const lastAtMs = Math.max(
      incident.openedAtMs,
      incident.resolvedAtMs ?? 0,
      ...incident.updates.map((update) => update.atMs),
    );
    const updates: StatusIncident['incident_updates'] = incident.updates.map((update, index) => ({
      id: `${incident.id}-${index + 1}`,
      status: 'identified' as const,
      body: update.summary,
      incident_id: incident.id,
      created_at: new Date(update.atMs).toISOString(),
      updated_at: new Date(update.atMs).toISOString(),
      display_at: new Date(update.atMs).toISOString(),
      affected_components: component
        ? [
            {
              code: component.id,
              name: component.name,
              old_status: 'operational' as const,
              new_status: 'major_outage' as const,
            },
          ]
        : [],
      deliver_notifications: true,
    }));
    if (isResolved) {
      const resolvedAt = new Date(incident.resolvedAtMs ?? 0).toISOString();
      updates.push({
        id: `${incident.id}-resolved`,
        status: 'resolved',
        body: 'The site answers normally again.',
        incident_id: incident.id,
        created_at: resolvedAt,
        updated_at: resolvedAt,
        display_at: resolvedAt,
        affected_components: component
          ? [
              {
                code: component.id,
                name: component.name,
                old_status: 'major_outage' as const,
                new_status: 'operational' as const,
              },
            ]
          : [],
        deliver_notifications: true,
      });
    }
    return {
      id: incident.id,
      name: `${incident.monitorName} is down`,
      status: isResolved ? 'resolved' : 'identified',
      created_at: openedAt,
      updated_at: new Date(lastAtMs).toISOString(),
      monitoring_at: null,
      resolved_at: isResolved ? new Date(incident.resolvedAtMs ?? 0).toISOString() : null,
      impact: 'major',
      shortlink: `${page.url}#incident-${incident.id}`,
      started_at: openedAt,
      page_id: page.id,
      incident_updates: updates.reverse(),
      components: component ? [plainComponent as Omit<StatusComponent, 'reach'>] : [],
      reach: {
        monitorId: incident.monitorId,
        cause: incident.cause,
        code: incident.code,
        summary: incident.summary,
        durationSeconds: isResolved
          ? Math.round(((incident.resolvedAtMs ?? 0) - incident.openedAtMs) / 1000)
          : null,
      },
    };
  };
  const nowMs = data.generatedAtMs;
  const maintenances = data.components.flatMap(({ monitor }) =>
    monitor.maintenance
      .filter((window) => Date.parse(window.endsAt) > nowMs)
      .map((window, index) => ({
        id: `${monitor.id}-maintenance-${index + 1}`,
        name: window.reason ?? `Maintenance of ${monitor.name}`,
        status: Date.parse(window.startsAt) <= nowMs ? ('in_progress' as const) : ('scheduled' as const),
        scheduled_for: new Date(window.startsAt).toISOString(),
        scheduled_until: new Date(window.endsAt).toISOString(),
        impact: 'maintenance' as const,
        components: [{ id: monitor.id, name: monitor.name }],
      })),
  );
  return {
    page: { id: page.id, name: page.name, url: page.url, time_zone: 'Etc/UTC', updated_at: updatedAt },
    status: overallStatus(data.components.map((component) => component.status.state)),
    components,
    incidents: data.incidents.filter((incident) => incident.resolvedAtMs === undefined).map(toIncident),
    scheduled_maintenances: maintenances,
    reach: {
      recentIncidents: data.incidents
        .filter((incident) => incident.resolvedAtMs !== undefined)
        .map(toIncident),
    },
  };
}
