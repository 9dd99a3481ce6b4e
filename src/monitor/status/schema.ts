// The schema of GET /status.json: Atlassian Statuspage's summary format plus a `reach` extension per component.
import { z } from 'zod';
import { vantageOutcomeSchema } from '../records.js';

export const componentStatusValues = [
  'operational',
  'degraded_performance',
  'partial_outage',
  'major_outage',
  'under_maintenance',
] as const;
export const indicatorValues = ['none', 'minor', 'major', 'critical'] as const;
export const incidentStatusValues = [
  'investigating',
  'identified',
  'monitoring',
  'resolved',
  'postmortem',
] as const;

const isoTime = z.string().describe('RFC 3339 time');
const fraction = z
  .number()
  .min(0)
  .max(1)
  .nullable()
  .describe('Share of checked runs that were up or degraded; null with no runs.');

export const componentExtensionSchema = z
  .strictObject({
    monitorId: z.string(),
    url: z.string(),
    state: z.enum(['pending', 'up', 'degraded', 'down', 'maintenance']),
    stateSince: isoTime,
    tags: z.array(z.string()),
    group: z
      .string()
      .optional()
      .describe('The group the monitor is listed under; its component is group_id.'),
    uptime: z
      .strictObject({ '24h': fraction, '7d': fraction, '30d': fraction })
      .describe(
        '24h: the last 24 hours (hourly buckets); 7d and 30d: today so far and the 6 or 29 UTC days before.',
      ),
    latencyMs: z
      .strictObject({
        p50: z.number().nullable(),
        p95: z.number().nullable(),
      })
      .describe('Durations of the last 100 runs that got an answer (up or degraded).'),
    lastVerdict: z
      .strictObject({
        at: isoTime,
        cause: z.string(),
        code: z.string(),
        summary: z.string(),
        warnings: z
          .array(z.string())
          .optional()
          .describe("Codes of the last run's warnings (a degraded path that did not change the state)."),
        vantages: z
          .array(vantageOutcomeSchema)
          .optional()
          .describe('For a monitor with vantages: what each vantage saw in the last run.'),
      })
      .nullable(),
    certificate: z
      .strictObject({ notAfter: isoTime, daysLeft: z.number().int() })
      .optional()
      .describe(
        "The site's TLS certificate as the last run that saw one found it: notAfter and whole days left.",
      ),
  })
  .meta({ id: 'StatusComponentExtension' });

export const statusComponentSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  status: z.enum(componentStatusValues),
  created_at: isoTime,
  updated_at: isoTime,
  position: z.number().int(),
  description: z.string().nullable(),
  showcase: z.boolean(),
  start_date: z.string().nullable(),
  group_id: z.string().nullable(),
  page_id: z.string(),
  group: z.boolean(),
  only_show_if_degraded: z.boolean(),
  reach: componentExtensionSchema,
});

const affectedComponentSchema = z.strictObject({
  code: z.string(),
  name: z.string(),
  old_status: z.enum(componentStatusValues),
  new_status: z.enum(componentStatusValues),
});

export const incidentUpdateSchema = z.strictObject({
  id: z.string(),
  status: z.enum(incidentStatusValues),
  body: z.string(),
  incident_id: z.string(),
  created_at: isoTime,
  updated_at: isoTime,
  display_at: isoTime,
  affected_components: z.array(affectedComponentSchema),
  deliver_notifications: z.boolean(),
});

export const statusIncidentSchema = z.strictObject({
  id: z.string(),
  name: z.string(),
  status: z.enum(incidentStatusValues),
  created_at: isoTime,
  updated_at: isoTime,
  monitoring_at: isoTime.nullable(),
  resolved_at: isoTime.nullable(),
  impact: z.enum(['none', 'minor', 'major', 'critical']),
  shortlink: z.string(),
  started_at: isoTime,
  page_id: z.string(),
  incident_updates: z.array(incidentUpdateSchema),
  components: z.array(statusComponentSchema.omit({ reach: true })),
  reach: z.strictObject({
    monitorId: z.string(),
    cause: z.string(),
    code: z.string(),
    summary: z.string(),
    durationSeconds: z.number().nullable().describe('From opening to resolution; null while open.'),
  }),
});

export const statusSummarySchema = z
  .strictObject({
    page: z.strictObject({
      id: z.string(),
      name: z.string(),
      url: z.string(),
      time_zone: z.string(),
      updated_at: isoTime,
    }),
    status: z.strictObject({ indicator: z.enum(indicatorValues), description: z.string() }),
    components: z.array(statusComponentSchema),
    incidents: z.array(statusIncidentSchema).describe('Unresolved incidents.'),
    scheduled_maintenances: z.array(
      z.strictObject({
        id: z.string(),
        name: z.string(),
        status: z.enum(['scheduled', 'in_progress']),
        scheduled_for: isoTime,
        scheduled_until: isoTime,
        impact: z.literal('maintenance'),
        components: z.array(z.strictObject({ id: z.string(), name: z.string() })),
      }),
    ),
    reach: z.strictObject({
      recentIncidents: z
        .array(statusIncidentSchema)
        .describe('Incidents resolved in the last 7 days, newest first.'),
      page: z
        .strictObject({
          page: z.number().int(),
          perPage: z.number().int(),
          pageCount: z.number().int(),
          total: z.number().int().describe('Components matching the filter, on all pages.'),
        })
        .optional()
        .describe('Present when the request asked for a page or a filter: `components` is that page.'),
      incidents: z
        .strictObject({
          unresolved: z.number().int().describe('Open incidents of every monitor, on all pages.'),
          recentlyResolved: z
            .number()
            .int()
            .describe('Incidents of every monitor resolved in the last 7 days, on all pages.'),
          unresolvedUrl: z
            .string()
            .describe('Every open incident, paged with ?page= and ?per_page= (Statuspage shape).'),
        })
        .optional()
        .describe(
          "Present with `page`: `incidents`, `reach.recentIncidents` and `scheduled_maintenances` are the page's monitors' only; these count all of them.",
        ),
    }),
  })
  .meta({ id: 'StatusSummary' });

export type StatusSummary = z.infer<typeof statusSummarySchema>;
export type StatusComponent = z.infer<typeof statusComponentSchema>;
export type StatusIncident = z.infer<typeof statusIncidentSchema>;

/** The JSON Schema (2020-12) published in docs/status.schema.json. */
export function statusSummaryJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(statusSummarySchema, { target: 'draft-2020-12', io: 'output' }) as Record<
    string,
    unknown
  >;
}
