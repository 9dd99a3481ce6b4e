// What a status page at thousands of monitors shows first (counts, what is down, groups) and one page of the rest.
import { z } from 'zod';
import { type MonitorState, monitorStateValues } from '../records.js';
import type { ComponentData, StatusData } from './data.js';

export const defaultPerPage = 50;
export const maxPerPage = 500;
/** Monitors named in the summary's "not operational" list before it says "and N more". */
export const notOperationalShown = 100;

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,6}$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** The query of the paged views (/status, /status.json, /api/v2/components.json): all optional. */
export const listingQuerySchema = z.strictObject({
  page: wholeNumber(1, 100_000).optional().describe('Page of the monitor list, from 1.'),
  per_page: wholeNumber(1, maxPerPage).optional().describe(`Monitors per page (default ${defaultPerPage}).`),
  group: z.string().max(60).optional().describe('Only the monitors of this group.'),
  state: z.enum(monitorStateValues).optional().describe('Only monitors in this state.'),
  q: z.string().max(100).optional().describe('Only monitors whose name or URL contains this (any case).'),
  refresh: z
    .literal('on')
    .optional()
    .describe('The HTML page reloads itself every STATUS_REFRESH_SECONDS (a wall display); off by default.'),
});
export type ListingQuery = z.infer<typeof listingQuerySchema>;

/** The query of the paged list of open incidents (/api/v2/incidents/unresolved.json): a page, nothing else. */
export const incidentPageQuerySchema = listingQuerySchema.pick({ page: true, per_page: true });
export type IncidentPageQuery = z.infer<typeof incidentPageQuerySchema>;

/** A query string's fields as the schema reads them: empty ones (a form's "any") are left out. */
export function listingFieldsOf(query: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== ''));
}

export interface ListingPage {
  items: ComponentData[];
  /** Monitors that matched the filter, on every page. */
  total: number;
  page: number;
  perPage: number;
  pageCount: number;
}

export interface GroupSummary {
  /** null: the monitors in no group. */
  name: string | null;
  total: number;
  counts: Record<MonitorState, number>;
  uptime30d: number | null;
}

export interface StatusOverview {
  total: number;
  counts: Record<MonitorState, number>;
  /** Mean over the monitors that had checked runs, each monitor weighing the same; null with none. */
  uptime: { '24h': number | null; '30d': number | null };
  /** Down first, then degraded; each in the page's order. */
  notOperational: ComponentData[];
  /** Named groups by name, then the ungrouped; empty when no monitor has a group. */
  groups: GroupSummary[];
}

function zeroStates(): Record<MonitorState, number> {
  return { pending: 0, up: 0, degraded: 0, down: 0, maintenance: 0 };
}

function meanOf(values: Array<number | null>): number | null {
  const known = values.filter((value): value is number => value !== null);
  return known.length === 0 ? null : known.reduce((sum, value) => sum + value, 0) / known.length;
}

const overviews = new WeakMap<StatusData, StatusOverview>();

/** The overview of one gathering: computed once, however many pages and views are rendered from it. */
export function overviewOf(data: StatusData): StatusOverview {
  const kept = overviews.get(data);
  if (kept) return kept;
  const counts = zeroStates();
  const byGroup = new Map<
    string | null,
    { counts: Record<MonitorState, number>; uptimes: Array<number | null> }
  >();
  for (const component of data.components) {
    const state = component.status.state;
    counts[state] += 1;
    const name = component.monitor.group ?? null;
    const group = byGroup.get(name) ?? { counts: zeroStates(), uptimes: [] };
    group.counts[state] += 1;
    group.uptimes.push(component.uptime['30d']);
    byGroup.set(name, group);
  }
  const hasGroups = [...byGroup.keys()].some((name) => name !== null);
  const groups = hasGroups
    ? [...byGroup.entries()]
        .sort(([a], [b]) => (a === null ? 1 : b === null ? -1 : a.localeCompare(b)))
        .map(([name, group]) => ({
          name,
          total: group.uptimes.length,
          counts: group.counts,
          uptime30d: meanOf(group.uptimes),
        }))
    : [];
  const overview: StatusOverview = {
    total: data.components.length,
    counts,
    uptime: {
      '24h': meanOf(data.components.map((component) => component.uptime['24h'])),
      '30d': meanOf(data.components.map((component) => component.uptime['30d'])),
    },
    notOperational: [
      ...data.components.filter((component) => component.status.state === 'down'),
      ...data.components.filter((component) => component.status.state === 'degraded'),
    ],
    groups,
  };
  overviews.set(data, overview);
  return overview;
}

/** Whether a listing query asks for a page or a filter (without one, the JSON views answer in full). */
export function isPaged(query: ListingQuery): boolean {
  const { refresh: _refresh, ...listing } = query;
  return Object.values(listing).some((value) => value !== undefined);
}

/** Where a list of `total` items cut `perPage` at a time is: the page asked for, clamped to the last one. */
export function pageBounds(total: number, query: { page?: number; per_page?: number }) {
  const perPage = query.per_page ?? defaultPerPage;
  const pageCount = Math.max(1, Math.ceil(total / perPage));
  const page = Math.min(query.page ?? 1, pageCount);
  return { page, perPage, pageCount, total, from: (page - 1) * perPage, to: page * perPage };
}

/** The monitors matching the query's filters, and the page of them it asks for (clamped to the last page). */
export function pageOf(components: ComponentData[], query: ListingQuery): ListingPage {
  const needle = query.q?.trim().toLowerCase();
  const matching = components.filter(
    (component) =>
      (query.group === undefined || component.monitor.group === query.group) &&
      (query.state === undefined || component.status.state === query.state) &&
      (!needle ||
        component.monitor.name.toLowerCase().includes(needle) ||
        component.monitor.url.toLowerCase().includes(needle)),
  );
  const { from, to, ...bounds } = pageBounds(matching.length, query);
  return { items: matching.slice(from, to), ...bounds };
}

/** The query as a search string (`?a=1&b=2`), the page replaced, in a stable order: one cache key per view. */
export function queryText(query: ListingQuery, page?: number): string {
  const params = new URLSearchParams();
  const fields: Array<[string, string | number | undefined]> = [
    ['group', query.group],
    ['state', query.state],
    ['q', query.q],
    ['per_page', query.per_page],
    ['page', page ?? query.page],
    ['refresh', query.refresh],
  ];
  for (const [name, value] of fields) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}
