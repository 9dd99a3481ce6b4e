// The batch paths of the OpenAPI document, with the zod schemas behind their components.
import { z } from 'zod';
import {
  type JsonObject,
  type OpenApiFragment,
  problemResponse as problem,
  componentRef as ref,
} from '../../requests/openapi.js';
import {
  batchAcceptedSchema,
  batchIdSchema,
  batchItemSchema,
  batchRequestSchema,
  batchStatusSchema,
  batchTextQuerySchema,
  resultsQuerySchema,
} from './schemas.js';

function schemaOf(schema: z.ZodType): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    target: 'draft-2020-12',
    unrepresentable: 'any',
  });
  return rest as JsonObject;
}

/** One query parameter per field of a query schema, with its description. */
function queryParameters(schema: z.ZodObject): JsonObject[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const converted = schemaOf(field as z.ZodType);
    const { description, ...fieldSchema } = converted;
    return { name, in: 'query', required: false, schema: fieldSchema, description };
  });
}

const idParameter = { name: 'id', in: 'path', required: true, schema: schemaOf(batchIdSchema) };

function batchPaths(security: unknown[]): Record<string, JsonObject> {
  const common = {
    '401': problem('Missing or wrong API key.'),
    '429': problem('Rate limit reached; see Retry-After.'),
    '503': problem('Redis unreachable; see Retry-After.'),
  };
  const status = { 'application/json': { schema: ref('BatchStatus') } };
  return {
    '/batches': {
      post: {
        summary: 'Submit a list of URLs',
        description:
          'Each URL becomes a probe on the batch lane. A URL the address policy refuses is a refused item, not a ' +
          'failed batch; a line that is not a URL is reported with its line number and skipped. With a text body, ' +
          'the options come in the query string. With `vantages`, each URL is probed from each of those live ' +
          'vantages and their comparison (a MultiVantageReport) is its result.',
        security,
        parameters: queryParameters(batchTextQuerySchema),
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: ref('BatchRequest') },
            'text/plain': { schema: { type: 'string', description: 'One URL a line; # comments.' } },
            'text/csv': { schema: { type: 'string', description: 'CSV with a url column.' } },
          },
        },
        responses: {
          '202': {
            description: 'Queued; GET the links for its status and results.',
            content: { 'application/json': { schema: ref('BatchAccepted') } },
          },
          '400': problem('Malformed JSON, unknown fields, options out of range, or no URL at all.'),
          '413': problem(
            'Over BATCH_MAX_URLS URLs (URLs times vantages with `vantages`), or a body over BATCH_MAX_BODY_BYTES.',
          ),
          '415': problem('Not application/json, text/plain or text/csv.'),
          '422': problem(
            'A control or resolver is refused by the address policy, or a vantage named is unknown or not live ' +
              '(or the service runs none).',
          ),
          ...common,
          '429': problem(
            'Rate limit reached, or BATCH_MAX_RUNNING batches of this key running; see Retry-After.',
          ),
        },
      },
    },
    '/batches/{id}': {
      get: {
        summary: 'A batch’s progress: counts by status and cause, times, rate',
        security,
        parameters: [idParameter],
        responses: {
          '200': { description: 'The status.', content: status },
          '404': problem('Unknown or expired.'),
          ...common,
        },
      },
      delete: {
        summary: 'Cancel a batch',
        description:
          'URLs not started are recorded cancelled; those being probed end with their report. Every URL ends with ' +
          'exactly one result.',
        security,
        parameters: [idParameter],
        responses: {
          '200': { description: 'The status after cancelling.', content: status },
          '404': problem('Unknown or expired.'),
          ...common,
        },
      },
    },
    '/batches/{id}/results': {
      get: {
        summary: 'A batch’s results, streamed',
        description:
          'One item per URL in the order they ended: NDJSON (BatchItem per line) by default, CSV with ' +
          '`Accept: text/csv` (the columns of `reach probe --file --csv`; for a batch with vantages one more, ' +
          '`vantages`, each vantage’s own cause: `local=ok;isp-b=filtered_path`).',
        security,
        parameters: [idParameter, ...queryParameters(resultsQuerySchema)],
        responses: {
          '200': {
            description: 'The results so far (all of them with follow=true).',
            content: {
              'application/x-ndjson': { schema: ref('BatchItem') },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          '400': problem('A cause that does not exist, or a bad offset.'),
          '404': problem('Unknown or expired.'),
          ...common,
        },
      },
    },
  };
}

export const batchOpenApi: OpenApiFragment = {
  components: {
    BatchRequest: batchRequestSchema,
    BatchAccepted: batchAcceptedSchema,
    BatchStatus: batchStatusSchema,
    BatchItem: batchItemSchema,
  },
  paths: batchPaths,
};
