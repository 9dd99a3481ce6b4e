// The Statuspage v2 public API bodies (/api/v2/*.json) that existing clients and widgets read: the summary's
// parts in Atlassian's shapes, with each monitor group as a group component that lists its monitors.
import type { StatusData } from './data.js';
import { type IncidentPageQuery, type ListingPage, pageBounds } from './listing.js';
import type { StatusComponent, StatusIncident, StatusSummary } from './schema.js';
import { groupIdOf, type PageIdentity, toStatusSummary } from './summary.js';

/** Statuspage's incidents.json lists the 50 most recent. */
const incidentsListed = 50;

type PlainComponent = Omit<StatusComponent, 'reach'> & { components?: string[] };
type PlainIncident = Omit<StatusIncident, 'reach'>;

/** Worst first: a group shows the worst status among its monitors. */
const statusRank: Record<StatusComponent['status'], number> = {
  major_outage: 0,
  partial_outage: 1,
  degraded_performance: 2,
  under_maintenance: 3,
  operational: 4,
};

export interface StatuspageMaintenance {
  id: string;
  name: string;
  status: 'scheduled' | 'in_progress';
  created_at: string;
  updated_at: string;
  monitoring_at: null;
  resolved_at: null;
  impact: 'maintenance';
  shortlink: string;
  started_at: string;
  page_id: string;
  incident_updates: Array<{
    id: string;
    status: 'scheduled' | 'in_progress';
    body: string;
    incident_id: string;
    created_at: string;
    updated_at: string;
    display_at: string;
    affected_components: Array<{ code: string; name: string; old_status: string; new_status: string }>;
    deliver_notifications: boolean;
  }>;
  components: PlainComponent[];
  scheduled_for: string;
  scheduled_until: string;
}

/** Every Statuspage body of one gathering, built once and sliced per path. */
export interface StatuspageBodies {
  page: StatusSummary['page'];
  status: StatusSummary['status'];
  components: PlainComponent[];
  unresolved: PlainIncident[];
  incidents: PlainIncident[];
  maintenances: StatuspageMaintenance[];
}

function plainComponent(component: StatusComponent): PlainComponent {
  const { reach: _extension, ...plain } = component;
  return plain;
}

function plainIncident(incident: StatusIncident): PlainIncident {
  const { reach: _extension, ...plain } = incident;
  return plain;
}

/** Group components (one per group name, in the order first seen), each followed by its monitors. */
function withGroups(components: StatusComponent[], page: PageIdentity): PlainComponent[] {
  const groups = new Map<string, StatusComponent[]>();
  for (const component of components) {
    const name = component.reach.group;
    if (name === undefined) continue;
    const members = groups.get(name);
    if (members) members.push(component);
    else groups.set(name, [component]);
  }
  const listed: PlainComponent[] = [];
  const emittedGroups = new Set<string>();
  let position = 0;
  for (const component of components) {
    const name = component.reach.group;
    if (name !== undefined && !emittedGroups.has(name)) {
      emittedGroups.add(name);
      const members = groups.get(name) ?? [];
      const worst = members.reduce(
        (status, member) => (statusRank[member.status] < statusRank[status] ? member.status : status),
        'operational' as StatusComponent['status'],
      );
      position += 1;
      listed.push({
        id: groupIdOf(name),
        name,
        status: worst,
        created_at: members.map((member) => member.created_at).sort()[0] ?? component.created_at,
        updated_at:
          members
            .map((member) => member.updated_at)
            .sort()
            .at(-1) ?? component.updated_at,
        position,
        description: null,
        showcase: false,
        start_date: null,
        group_id: null,
        page_id: page.id,
        group: true,
        only_show_if_degraded: false,
        components: members.map((member) => member.id),
      });
    }
    position += 1;
    listed.push({ ...plainComponent(component), position });
  }
  return listed;
}

function maintenanceOf(
  window: StatusSummary['scheduled_maintenances'][number],
  componentById: Map<string, StatusComponent>,
  page: PageIdentity,
  nowText: string,
): StatuspageMaintenance {
  const components = window.components.flatMap((entry) => {
    const component = componentById.get(entry.id);
    return component ? [plainComponent(component)] : [];
  });
  const isActive = window.status === 'in_progress';
  const atText = isActive ? window.scheduled_for : nowText;
  return {
    id: window.id,
    name: window.name,
    status: window.status,
    created_at: window.scheduled_for,
    updated_at: atText,
    monitoring_at: null,
    resolved_at: null,
    impact: 'maintenance',
    shortlink: `${page.url}#maintenance-${window.id}`,
    started_at: window.scheduled_for,
    page_id: page.id,
    incident_updates: [
      {
        id: `${window.id}-${window.status}`,
        status: window.status,
        body: isActive ? 'The maintenance is in progress.' : `Scheduled: ${window.name}.`,
        incident_id: window.id,
        created_at: atText,
        updated_at: atText,
        display_at: atText,
        affected_components: components.map((component) => ({
          code: component.id,
          name: component.name,
          old_status: 'operational',
          new_status: isActive ? 'under_maintenance' : 'operational',
        })),
        deliver_notifications: true,
      },
    ],
    components,
    scheduled_for: window.scheduled_for,
    scheduled_until: window.scheduled_until,
  };
}

export function statuspageBodiesOf(data: StatusData, page: PageIdentity): StatuspageBodies {
  const summary = toStatusSummary(data, page);
  const componentById = new Map(summary.components.map((component) => [component.id, component]));
  const unresolved = summary.incidents.map(plainIncident);
  const resolved = summary.reach.recentIncidents.map(plainIncident);
  const incidents = [...unresolved, ...resolved]
    .sort((a, b) => b.created_at.localeCompare(a.created_at))
    .slice(0, incidentsListed);
  return {
    page: summary.page,
    status: summary.status,
    components: withGroups(summary.components, page),
    unresolved,
    incidents,
    maintenances: summary.scheduled_maintenances.map((window) =>
      maintenanceOf(window, componentById, page, summary.page.updated_at),
    ),
  };
}

/** The components of a page of the list: that page's monitors and their groups; `reach.page` says which. */
export function pagedComponents(bodies: StatuspageBodies, listing: ListingPage) {
  const ids = new Set(listing.items.map((item) => item.monitor.id));
  const groupIds = new Set(
    listing.items.flatMap((item) =>
      item.monitor.group === undefined ? [] : [groupIdOf(item.monitor.group)],
    ),
  );
  return {
    page: bodies.page,
    components: bodies.components.filter((component) => ids.has(component.id) || groupIds.has(component.id)),
    reach: {
      page: {
        page: listing.page,
        perPage: listing.perPage,
        pageCount: listing.pageCount,
        total: listing.total,
      },
    },
  };
}

/** A page of the open incidents, in the order unresolved.json lists them; `reach.page` says which. */
export function pagedUnresolved(bodies: StatuspageBodies, query: IncidentPageQuery) {
  const { from, to, ...page } = pageBounds(bodies.unresolved.length, query);
  return { page: bodies.page, incidents: bodies.unresolved.slice(from, to), reach: { page } };
}

/** The body of each Statuspage path, by its name under /api/v2/. */
export const statuspagePaths = {
  'summary.json': (bodies: StatuspageBodies) => ({
    page: bodies.page,
    components: bodies.components,
    incidents: bodies.unresolved,
    scheduled_maintenances: bodies.maintenances,
    status: bodies.status,
  }),
  'status.json': (bodies: StatuspageBodies) => ({ page: bodies.page, status: bodies.status }),
  'components.json': (bodies: StatuspageBodies) => ({ page: bodies.page, components: bodies.components }),
  'incidents.json': (bodies: StatuspageBodies) => ({ page: bodies.page, incidents: bodies.incidents }),
  'incidents/unresolved.json': (bodies: StatuspageBodies) => ({
    page: bodies.page,
    incidents: bodies.unresolved,
  }),
  'scheduled-maintenances.json': (bodies: StatuspageBodies) => ({
    page: bodies.page,
    scheduled_maintenances: bodies.maintenances,
  }),
  'scheduled-maintenances/upcoming.json': (bodies: StatuspageBodies) => ({
    page: bodies.page,
    scheduled_maintenances: bodies.maintenances.filter((window) => window.status === 'scheduled'),
  }),
  'scheduled-maintenances/active.json': (bodies: StatuspageBodies) => ({
    page: bodies.page,
    scheduled_maintenances: bodies.maintenances.filter((window) => window.status === 'in_progress'),
  }),
} as const;
export type StatuspagePath = keyof typeof statuspagePaths;
