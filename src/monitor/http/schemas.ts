// The monitor API's zod schemas: they validate requests and describe answers in the OpenAPI document.
import { z } from 'zod';
import { problemSchema } from '../../requests/problems.js';
import {
  contentExpectationsSchema,
  httpUrlSchema,
  resolverSchema,
  vantageSelectionSchema,
} from '../../requests/schemas.js';
import { recurringWindowProblem } from '../maintenance.js';
import { monitorStateValues, vantageOutcomeSchema } from '../records.js';

export const minIntervalSeconds = 10;
export const maxIntervalSeconds = 86_400;

const tagSchema = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, 'letters, digits and _ . : - only');

export const maintenanceWindowSchema = z
  .strictObject({
    startsAt: z.iso.datetime({ offset: true }).describe('Start of the window (RFC 3339).'),
    endsAt: z.iso.datetime({ offset: true }).describe('End of the window (RFC 3339).'),
    reason: z.string().max(200).optional(),
  })
  .refine((window) => Date.parse(window.endsAt) > Date.parse(window.startsAt), {
    message: 'endsAt must be after startsAt',
    path: ['endsAt'],
  })
  .meta({ id: 'MaintenanceWindow' });

export const webhookInputSchema = z
  .strictObject({
    url: httpUrlSchema.describe('Receives a POST with the JSON payload on every state change.'),
    secret: z.string().min(16).max(256).describe('Key of the HMAC-SHA256 signature header; never returned.'),
  })
  .meta({ id: 'WebhookInput' });

export const recurringMaintenanceSchema = z
  .strictObject({
    cron: z
      .string()
      .min(9)
      .max(100)
      .describe(
        'When each window starts: minute hour day-of-month month day-of-week (0 2 * * 0: Sundays 02:00).',
      ),
    timeZone: z
      .string()
      .min(1)
      .max(64)
      .default('UTC')
      .describe('IANA time zone the cron is read in (default UTC).'),
    durationMinutes: z
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60),
    reason: z.string().max(200).optional(),
  })
  .superRefine((window, context) => {
    const problem = recurringWindowProblem(window.cron, window.timeZone);
    if (problem) context.addIssue({ code: 'custom', message: problem.message, path: [problem.field] });
  })
  .meta({ id: 'RecurringMaintenanceWindow' });

const monitorFields = {
  name: z.string().trim().min(1).max(100).describe('Shown on the status page.'),
  url: httpUrlSchema.describe('The URL to probe.'),
  intervalSeconds: z
    .number()
    .int()
    .min(minIntervalSeconds)
    .max(maxIntervalSeconds)
    .describe('Seconds between scheduled runs.'),
  timeoutMs: z
    .number()
    .int()
    .min(100)
    .max(60_000)
    .optional()
    .describe('Deadline of one run (default: PROBE_TIMEOUT_MS).'),
  resolvers: z.array(resolverSchema).max(8).optional(),
  controls: z.array(httpUrlSchema).max(8).optional(),
  confirmations: z
    .number()
    .int()
    .min(1)
    .max(10)
    .optional()
    .describe('Consecutive failed runs before the state changes (default 2).'),
  slowFirstByteMs: z
    .number()
    .int()
    .min(100)
    .max(60_000)
    .optional()
    .describe('A first byte slower than this makes the run degraded (default: the engine threshold, 2000).'),
  expect: contentExpectationsSchema
    .optional()
    .describe(
      'Content checks on the final answer, at every vantage: a failed one is a verdict of its own (content.*). {} removes them.',
    ),
  tags: z.array(tagSchema).max(20).optional(),
  group: z
    .string()
    .trim()
    .min(1)
    .max(60)
    .optional()
    .describe('The status page lists the monitor under this group (a Statuspage group component).'),
  maintenance: z.array(maintenanceWindowSchema).max(20).optional(),
  recurringMaintenance: z
    .array(recurringMaintenanceSchema)
    .max(10)
    .optional()
    .describe('Windows that come back: no alerts and no incidents inside them, shown on the status page.'),
  webhooks: z.array(webhookInputSchema).max(5).optional(),
  channels: z
    .array(z.uuid())
    .max(20)
    .refine((ids) => new Set(ids).size === ids.length, { message: 'a channel is named twice' })
    .optional()
    .describe('Ids of notification channels (POST /channels, admin key) told of every state change.'),
  certificateExpiryDays: z
    .array(z.number().int().min(1).max(365))
    .min(1)
    .max(5)
    .optional()
    .describe(
      'Warn this many days before the TLS certificate expires, once per threshold (default [14, 3]).',
    ),
  vantages: vantageSelectionSchema.optional(),
  quorum: z
    .number()
    .int()
    .min(1)
    .max(32)
    .optional()
    .describe(
      'With vantages: how many must see the site down for a run to be down (default: a majority of those asked). A lone failing vantage opens no incident.',
    ),
};

export const monitorCreateSchema = z.strictObject(monitorFields).meta({ id: 'MonitorInput' });
export type MonitorInput = z.infer<typeof monitorCreateSchema>;

export const monitorPatchSchema = z
  .strictObject({
    ...monitorFields,
    group: monitorFields.group.unwrap().nullable().describe('null takes the monitor out of its group.'),
  })
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, { message: 'send at least one field' })
  .meta({ id: 'MonitorPatch' });
export type MonitorPatch = z.infer<typeof monitorPatchSchema>;

export const defaultConfirmations = 2;

const lastRunSchema = z.object({
  at: z.string(),
  health: z.enum(['up', 'degraded', 'down']),
  cause: z.string(),
  code: z.string(),
  summary: z.string(),
  durationMs: z.number(),
  warnings: z.array(z.string()).optional().describe("Codes of the run's warnings, when it had any."),
  vantages: z
    .array(vantageOutcomeSchema)
    .optional()
    .describe('What each vantage saw, for a monitor with vantages.'),
});

export const monitorOutputSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    url: z.string(),
    intervalSeconds: z.number().int(),
    timeoutMs: z.number().int().optional(),
    resolvers: z.array(z.string()).optional(),
    controls: z.array(z.string()).optional(),
    confirmations: z.number().int(),
    slowFirstByteMs: z.number().int().optional(),
    expect: contentExpectationsSchema.optional(),
    tags: z.array(z.string()),
    group: z.string().optional(),
    maintenance: z.array(
      z.object({ startsAt: z.string(), endsAt: z.string(), reason: z.string().optional() }),
    ),
    recurringMaintenance: z
      .array(
        z.object({
          cron: z.string(),
          timeZone: z.string(),
          durationMinutes: z.number().int(),
          reason: z.string().optional(),
        }),
      )
      .optional(),
    webhooks: z.array(z.object({ url: z.string() })).describe('Secrets are never returned.'),
    channels: z.array(z.string()).optional(),
    certificateExpiryDays: z.array(z.number().int()).optional(),
    certificate: z
      .object({ notAfter: z.string(), daysLeft: z.number().int() })
      .optional()
      .describe("The site's certificate as the last run that saw one found it."),
    vantages: vantageSelectionSchema.optional(),
    quorum: z.number().int().optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
    state: z.enum(monitorStateValues),
    stateSince: z.string().optional(),
    lastRun: lastRunSchema.optional(),
    openIncidentId: z.string().optional(),
    nextRunAt: z.iso
      .datetime()
      .nullable()
      .describe(
        "The monitor's next scheduled run, read from its shard's job scheduler; null when it has none.",
      ),
    links: z.object({ self: z.string(), history: z.string() }),
  })
  .meta({ id: 'Monitor' });
export type MonitorOutput = z.infer<typeof monitorOutputSchema>;

export const historyQuerySchema = z.strictObject({
  since: z.iso
    .datetime({ offset: true })
    .optional()
    .describe('Only runs that started at or after this time.'),
  limit: z
    .string()
    .regex(/^\d{1,5}$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(10_000))
    .optional()
    .describe('Most recent runs first, at most this many (default 100).'),
});

/** One item's answer in POST /monitors/bulk: created (201, with its id) or the problem POST /monitors would answer. */
export const bulkItemResultSchema = z
  .object({
    index: z
      .number()
      .int()
      .describe('The position of the item in the request (0-based; NDJSON: non-blank lines).'),
    line: z.number().int().optional().describe('NDJSON: the line that is not JSON.'),
    status: z
      .number()
      .int()
      .describe('201 created; else the status POST /monitors would answer for this item (400, 422, 503).'),
    id: z.string().optional(),
    links: z.object({ self: z.string(), history: z.string() }).optional(),
    problem: problemSchema
      .optional()
      .describe('Why this item was not created: a problem body without instance.'),
  })
  .meta({ id: 'MonitorBulkItem' });
export type BulkItemResult = z.infer<typeof bulkItemResultSchema>;

export const bulkResultSchema = z
  .object({
    created: z.number().int(),
    failed: z.number().int(),
    items: z.array(bulkItemResultSchema).describe('One per item, in the order of the request.'),
  })
  .meta({ id: 'MonitorBulkResult' });
