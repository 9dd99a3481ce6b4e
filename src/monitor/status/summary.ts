// The status data mapped to the Statuspage summary format (GET /status.json) and the overall status.
import { createHash } from 'node:crypto';
import { daysLeftOf } from '../certificate-expiry.js';
import { currentOrNextOccurrence } from '../maintenance.js';
import type { MonitorState } from '../records.js';
import type { Incident } from '../store.js';
import type { ComponentData, StatusData } from './data.js';
import type { ListingPage } from './listing.js';
import type { StatusComponent, StatusIncident, StatusSummary } from './schema.js';

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

/** A group's component id: stable for its name, distinct from the monitors' UUIDs. */
export function groupIdOf(name: string): string {
  return `group-${createHash('sha256').update(name).digest('base64url').slice(0, 16)}`;
}

export interface PageIdentity {
  id: string;
  name: string;
  url: string;
}

/** Where the whole list of open incidents is, paged (a paged summary names it for the incidents it leaves out). */
export const unresolvedIncidentsPath = '/api/v2/incidents/unresolved.json';

/**
 * The summary: the page, the overall status, one component per monitor, open incidents and maintenances.
 * Given a page of the list, the components are that page's, and so are the incidents and maintenances: a page
 * of 100 monitors must not carry the 200 open incidents of 10,000. `reach.page` says which page, and
 * `reach.incidents` counts every incident and names where the rest are listed.
 */
export function toStatusSummary(data: StatusData, page: PageIdentity, listing?: ListingPage): StatusSummary {
  const components = data.components.map((component, index) =>
    componentOf(component, index, page, data.generatedAtMs),
  );
  const componentById = new Map(components.map((component) => [component.id, component]));
  const listed = listing
    ? listing.items.flatMap((item) => componentById.get(item.monitor.id) ?? [])
    : components;
  const toIncident = (incident: Incident) =>
    incidentOf(incident, componentById.get(incident.monitorId), page);
  const onThisPage = listing ? new Set(listing.items.map((item) => item.monitor.id)) : undefined;
  const isListed = (incident: Incident) => !onThisPage || onThisPage.has(incident.monitorId);
  const unresolved = data.incidents.filter((incident) => incident.resolvedAtMs === undefined);
  const resolved = data.incidents.filter((incident) => incident.resolvedAtMs !== undefined);
  return {
    page: {
      id: page.id,
      name: page.name,
      url: page.url,
      time_zone: 'Etc/UTC',
      updated_at: new Date(data.generatedAtMs).toISOString(),
    },
    status: overallStatus(data.components.map((component) => component.status.state)),
    components: listed,
    incidents: unresolved.filter(isListed).map(toIncident),
    scheduled_maintenances: maintenancesOf(data, listing ? listing.items : data.components),
    reach: {
      recentIncidents: resolved.filter(isListed).map(toIncident),
      ...(listing
        ? {
            page: {
              page: listing.page,
              perPage: listing.perPage,
              pageCount: listing.pageCount,
              total: listing.total,
            },
            incidents: {
              unresolved: unresolved.length,
              recentlyResolved: resolved.length,
              unresolvedUrl: `${page.url.replace(/\/status$/, '')}${unresolvedIncidentsPath}`,
            },
          }
        : {}),
    },
  };
}

/** One monitor as a Statuspage component, with reach's extension (state, uptime, latency, last verdict). */
function componentOf(
  component: ComponentData,
  index: number,
  page: PageIdentity,
  generatedAtMs: number,
): StatusComponent {
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
    group_id: monitor.group === undefined ? null : groupIdOf(monitor.group),
    page_id: page.id,
    group: false,
    only_show_if_degraded: false,
    reach: {
      monitorId: monitor.id,
      url: monitor.url,
      state: status.state,
      stateSince: new Date(status.sinceMs).toISOString(),
      tags: monitor.tags,
      ...(monitor.group !== undefined ? { group: monitor.group } : {}),
      uptime: component.uptime,
      latencyMs: component.latencyMs,
      lastVerdict: lastRun
        ? {
            at: lastRun.at,
            cause: lastRun.cause,
            code: lastRun.code,
            summary: lastRun.summary,
            ...(lastRun.warnings ? { warnings: lastRun.warnings } : {}),
            ...(lastRun.vantages ? { vantages: lastRun.vantages } : {}),
          }
        : null,
      ...(lastRun?.certificateNotAfter
        ? {
            certificate: {
              notAfter: lastRun.certificateNotAfter,
              daysLeft: daysLeftOf(lastRun.certificateNotAfter, generatedAtMs),
            },
          }
        : {}),
    },
  };
}

/** An incident as Statuspage writes one, its updates newest first, with reach's extension (cause, duration). */
function incidentOf(
  incident: Incident,
  component: StatusComponent | undefined,
  page: PageIdentity,
): StatusIncident {
  const { reach: _extension, ...plainComponent } = component ?? ({} as StatusComponent);
  const isResolved = incident.resolvedAtMs !== undefined;
  const openedAt = new Date(incident.openedAtMs).toISOString();
  const lastAtMs = Math.max(
    incident.openedAtMs,
    incident.resolvedAtMs ?? 0,
    ...incident.updates.map((update) => update.atMs),
  );
  return {
    id: incident.id,
    name: incident.shared ? incident.monitorName : `${incident.monitorName} is down`,
    status: isResolved ? 'resolved' : 'identified',
    created_at: openedAt,
    updated_at: new Date(lastAtMs).toISOString(),
    monitoring_at: null,
    resolved_at: isResolved ? new Date(incident.resolvedAtMs ?? 0).toISOString() : null,
    impact: 'major',
    shortlink: `${page.url}#incident-${incident.id}`,
    started_at: openedAt,
    page_id: page.id,
    incident_updates: incidentUpdatesOf(incident, component).reverse(),
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
}

/** The incident's updates, oldest first: one per summary it was given, and one for its resolution. */
function incidentUpdatesOf(
  incident: Incident,
  component: StatusComponent | undefined,
): StatusIncident['incident_updates'] {
  const affected = (oldStatus: 'operational' | 'major_outage', newStatus: 'operational' | 'major_outage') =>
    component
      ? [{ code: component.id, name: component.name, old_status: oldStatus, new_status: newStatus }]
      : [];
  const updates: StatusIncident['incident_updates'] = incident.updates.map((update, index) => ({
    id: `${incident.id}-${index + 1}`,
    status: 'identified' as const,
    body: update.summary,
    incident_id: incident.id,
    created_at: new Date(update.atMs).toISOString(),
    updated_at: new Date(update.atMs).toISOString(),
    display_at: new Date(update.atMs).toISOString(),
    affected_components: affected('operational', 'major_outage'),
    deliver_notifications: true,
  }));
  if (incident.resolvedAtMs !== undefined) {
    const resolvedAt = new Date(incident.resolvedAtMs).toISOString();
    updates.push({
      id: `${incident.id}-resolved`,
      status: 'resolved',
      body: 'The site answers normally again.',
      incident_id: incident.id,
      created_at: resolvedAt,
      updated_at: resolvedAt,
      display_at: resolvedAt,
      affected_components: affected('major_outage', 'operational'),
      deliver_notifications: true,
    });
  }
  return updates;
}

/**
 * Maintenance windows not yet over, in progress or scheduled, one entry per window; a recurring window shows its
 * occurrence in progress, or its next one.
 */
function maintenancesOf(
  data: StatusData,
  components: ComponentData[],
): StatusSummary['scheduled_maintenances'] {
  const nowMs = data.generatedAtMs;
  const recurring = components.flatMap(({ monitor }) =>
    (monitor.recurringMaintenance ?? []).map((window, index) => {
      const occurrence = currentOrNextOccurrence(window, nowMs);
      return {
        id: `${monitor.id}-recurring-maintenance-${index + 1}`,
        name: window.reason ?? `Maintenance of ${monitor.name}`,
        status: occurrence.startsAtMs <= nowMs ? ('in_progress' as const) : ('scheduled' as const),
        scheduled_for: new Date(occurrence.startsAtMs).toISOString(),
        scheduled_until: new Date(occurrence.endsAtMs).toISOString(),
        impact: 'maintenance' as const,
        components: [{ id: monitor.id, name: monitor.name }],
      };
    }),
  );
  return [...oneOffMaintenancesOf(components, nowMs), ...recurring];
}

function oneOffMaintenancesOf(
  components: ComponentData[],
  nowMs: number,
): StatusSummary['scheduled_maintenances'] {
  return components.flatMap(({ monitor }) =>
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
}
