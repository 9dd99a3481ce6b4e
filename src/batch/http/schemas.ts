// The batch API's zod schemas: they validate requests and are the source of its OpenAPI fragment.
import { z } from 'zod';
import { probeRequestSchema, vantageSelectionSchema } from '../../requests/schemas.js';
import { itemCauses, itemStatuses } from '../item.js';

const { resolvers, controls, timeoutMs } = probeRequestSchema.shape;

/** The options a batch applies to each of its URLs: the same fields, and limits, as POST /probe. */
export const batchOptionsSchema = z.strictObject({ resolvers, controls, timeoutMs });

export const batchRequestSchema = z
  .strictObject({
    urls: z
      .array(z.string().max(4096))
      .min(1)
      .describe('The URLs to diagnose; a bad one is reported by its 1-based position and skipped.'),
    resolvers,
    controls,
    timeoutMs,
    vantages: vantageSelectionSchema
      .optional()
      .describe(
        'Probe each URL from these live vantages (as POST /probe does) and record the comparison as its result. ' +
          'URLs times vantages counts against the limit on URLs per batch.',
      ),
  })
  .meta({ id: 'BatchRequest' });

/** A query value given once or repeated (?controls=a&controls=b), or comma-separated. */
const listQuery = z
  .union([z.string(), z.array(z.string())])
  .transform((value) => (Array.isArray(value) ? value : [value]).flatMap((text) => text.split(',')))
  .transform((values) => values.map((text) => text.trim()).filter((text) => text !== ''));

/** With a text/plain or text/csv body, the options come in the query string. */
export const batchTextQuerySchema = z.strictObject({
  resolvers: listQuery.optional().describe('Resolvers, comma-separated or repeated.'),
  controls: listQuery.optional().describe('Control URLs, comma-separated or repeated.'),
  timeoutMs: z
    .string()
    .regex(/^\d{1,6}$/, 'expected whole milliseconds')
    .transform(Number)
    .optional()
    .describe('Deadline for each probe.'),
  vantages: z
    .string()
    .transform((text): unknown =>
      text.trim() === 'all' ? 'all' : text.split(',').map((name) => name.trim()),
    )
    .pipe(vantageSelectionSchema)
    .optional()
    .describe('"all", or vantage names separated by commas: each URL is probed from each and compared.'),
});

export const batchIdSchema = z.uuid().describe('The batch id returned by POST /batches.');

const badLineSchema = z.object({
  line: z.number().int().describe('The line of the list (1-based), or the position in `urls`.'),
  reason: z.string(),
});

const batchLinksSchema = z.object({
  self: z.string().describe('Where to GET the batch’s status.'),
  results: z.string().describe('Where to GET its results (NDJSON or CSV).'),
});

/** Bad lines answered in full up to this many; the rest are counted. */
export const badLinesShown = 100;

export const batchAcceptedSchema = z
  .object({
    id: z.string(),
    total: z.number().int().describe('URLs in the batch (bad lines are not).'),
    refused: z.number().int().describe('URLs the address policy refused: each is a refused item already.'),
    badLineCount: z.number().int(),
    badLines: z.array(badLineSchema).describe(`The first ${badLinesShown} bad lines, skipped.`),
    links: batchLinksSchema,
  })
  .meta({ id: 'BatchAccepted' });

const countsSchema = <T extends readonly [string, ...string[]]>(values: T) =>
  z.partialRecord(z.enum(values), z.number().int());

export const batchStatusSchema = z
  .object({
    id: z.string(),
    state: z.enum(['running', 'completed', 'cancelled']),
    total: z.number().int(),
    done: z.number().int().describe('URLs with a result.'),
    pending: z.number().int().describe('URLs still queued or being probed.'),
    byStatus: countsSchema(itemStatuses),
    byCause: countsSchema(itemCauses).describe(
      'Completed URLs by their verdict’s cause; refused, cancelled and failed URLs by their status.',
    ),
    badLineCount: z.number().int(),
    createdAt: z.string(),
    startedAt: z.string().optional().describe('When a worker took its first URL.'),
    finishedAt: z.string().optional().describe('When its last URL got its result.'),
    ratePerSecond: z.number().describe('URLs done per second since it started (until it finished).'),
    links: batchLinksSchema,
  })
  .meta({ id: 'BatchStatus' });

export type BatchStatus = z.infer<typeof batchStatusSchema>;

export const batchItemSchema = z
  .looseObject({
    index: z.number().int().describe('The URL’s place in the batch (0-based).'),
    url: z.string(),
    status: z.enum(itemStatuses),
    cause: z.enum(itemCauses),
    report: z.looseObject({}).optional().describe('The report, when completed (see Report).'),
    reason: z.string().optional().describe('Why there is no report.'),
  })
  .describe('One line of the NDJSON results.')
  .meta({ id: 'BatchItem' });

export const resultsQuerySchema = z.strictObject({
  cause: listQuery
    .pipe(z.array(z.enum(itemCauses)))
    .optional()
    .describe('Only items with these causes (comma-separated or repeated).'),
  offset: z
    .string()
    .regex(/^\d{1,9}$/, 'expected a whole number')
    .transform(Number)
    .optional()
    .describe('Skip the first results (in the order they ended), to resume a stream.'),
  follow: z
    .enum(['true', 'false'])
    .transform((text) => text === 'true')
    .optional()
    .describe('Keep the stream open and write results as they end, until the batch is done.'),
});
