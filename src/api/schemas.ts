// The API's zod schemas: they validate requests and are the source of the OpenAPI document.
import { isIP } from 'node:net';
import { z } from 'zod';

const resolverPattern = /^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|[0-9a-fA-F:]+|\[[0-9a-fA-F:]+\](:\d{1,5})?)$/;

export const resolverSchema = z
  .string()
  .max(64)
  .regex(resolverPattern, 'expected IP, IP:PORT or [IPv6]:PORT')
  .refine(isResolverText, 'expected IP, IP:PORT or [IPv6]:PORT with a port in 1..65535')
  .describe('A DNS resolver to query: "IP", "IP:PORT" or "[IPv6]:PORT".');

function isResolverText(text: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const portOk = (port: string | undefined) =>
    port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
  if (bracketed) return isIP(bracketed[1] ?? '') === 6 && portOk(bracketed[2]);
  if (isIP(text) !== 0) return true;
  const [host, port] = text.split(':');
  return isIP(host ?? '') === 4 && portOk(port);
}

export const httpUrlSchema = z
  .url({ protocol: /^https?$/, message: 'expected an absolute http:// or https:// URL' })
  .max(2048);

export const probeRequestSchema = z
  .strictObject({
    url: httpUrlSchema.describe('The URL to diagnose.'),
    resolvers: z
      .array(resolverSchema)
      .max(8)
      .optional()
      .describe('Resolvers to query instead of the defaults.'),
    controls: z
      .array(httpUrlSchema)
      .max(8)
      .optional()
      .describe('Known-good URLs probed in parallel, to tell a local problem from a remote one.'),
    timeoutMs: z.number().int().min(100).max(120_000).optional().describe('Deadline for the whole probe.'),
  })
  .meta({ id: 'ProbeRequest' });

export type ProbeRequest = z.infer<typeof probeRequestSchema>;

export const waitQuerySchema = z.strictObject({
  wait: z
    .string()
    .regex(/^\d{1,5}$/, 'expected whole seconds')
    .transform(Number)
    .pipe(z.number().int().min(0).max(60, 'wait is at most 60 seconds'))
    .optional()
    .describe('Seconds to wait for the result before answering 202.'),
});

export const emptyQuerySchema = z.strictObject({});

export const probeIdSchema = z.uuid().describe('The probe id returned by POST /probe.');

export const probeStatusValues = ['queued', 'active', 'completed', 'failed'] as const;

const linksSchema = z.object({ self: z.string().describe('Where to GET the probe.') });

export const verdictSchema = z.looseObject({
  cause: z.enum([
    'ok',
    'dns_failure',
    'server_fault',
    'local_network',
    'overload',
    'domain_migration',
    'filtered_path',
  ]),
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
  })
  .describe('The engine report, the same JSON as `reach probe --json`.')
  .meta({ id: 'Report' });

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
    report: reportSchema.optional(),
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

export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    field: z.string().optional().describe('The first field at fault.'),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });
