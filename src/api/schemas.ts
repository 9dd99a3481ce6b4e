// The API's zod schemas: they validate requests and are the source of the OpenAPI document.
import { z } from 'zod';
import { causes } from '../types.js';

export const waitQuerySchema = z.strictObject({
  wait: z
    .string()
    .regex(/^\d{1,5}$/, 'expected whole seconds')
    .transform(Number)
    .pipe(z.number().int().min(0).max(60, 'wait is at most 60 seconds'))
    .optional()
    .describe('Seconds to wait for the result before answering 202.'),
});

export const probeIdSchema = z.uuid().describe('The probe id returned by POST /probe.');

export const probeStatusValues = ['queued', 'active', 'completed', 'failed'] as const;

const linksSchema = z.object({ self: z.string().describe('Where to GET the probe.') });

export const verdictSchema = z.looseObject({
  cause: z.enum(causes),
  code: z.string(),
  confidence: z.number(),
  summary: z.string(),
  evidence: z.array(z.string()),
  rule: z.string(),
});

export const reportSchema = z
  .looseObject({
    schemaVersion: z.literal(1),
    url: z.string(),
    startedAt: z.string(),
    durationMs: z.number(),
    timeoutMs: z.number(),
    resolvers: z.array(z.string()),
    target: z.looseObject({}),
    controls: z.array(z.looseObject({})),
    verdict: verdictSchema,
    warnings: z
      .array(z.looseObject({ code: z.string(), summary: z.string(), evidence: z.array(z.string()) }))
      .describe('Degraded paths that did not decide the verdict (see docs/report.md); empty when none.'),
  })
  .describe('The engine report, the same JSON as `reach probe --json`.')
  .meta({ id: 'Report' });

export const multiVantageReportSchema = z
  .looseObject({
    schemaVersion: z.literal(1),
    url: z.string(),
    startedAt: z.string(),
    durationMs: z.number(),
    vantages: z.array(
      z.looseObject({
        name: z.string(),
        labels: z.record(z.string(), z.string()),
        status: z.enum(['completed', 'lost', 'refused', 'failed']),
        report: reportSchema.optional(),
        reason: z.string().optional(),
      }),
    ),
    verdict: verdictSchema,
  })
  .describe('A probe from several vantages: each vantage’s report, and one verdict that compares them.');

export const liveVantageSchema = z.object({
  name: z.string(),
  labels: z.record(z.string(), z.string()),
  version: z.string(),
  concurrency: z.number().int(),
  lastSeenAt: z.string().describe('When its last heartbeat arrived.'),
});

export const vantageListSchema = z
  .object({ vantages: z.array(liveVantageSchema) })
  .describe('The vantage points with a heartbeat in the last three intervals.');

export const probeAcceptedSchema = z
  .object({ id: z.string(), status: z.enum(probeStatusValues), links: linksSchema })
  .meta({ id: 'ProbeAccepted' });

export const probeStatusSchema = z
  .object({
    id: z.string(),
    status: z.enum(probeStatusValues),
    submittedAt: z.string(),
    finishedAt: z.string().optional(),
    attempts: z
      .number()
      .int()
      .optional()
      .describe('Times a worker started the job (more than 1 after a crash or retry).'),
    report: z.union([reportSchema, multiVantageReportSchema]).optional(),
    error: z
      .object({
        kind: z.enum(['refused', 'invalid', 'error']),
        reason: z.string(),
        address: z.string().optional(),
      })
      .optional()
      .describe('Why a failed probe has no report.'),
    links: linksSchema,
  })
  .meta({ id: 'ProbeStatus' });

export type ProbeStatus = z.infer<typeof probeStatusSchema>;
