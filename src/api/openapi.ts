// The OpenAPI 3.1 document, generated from the zod schemas that validate the requests.
import { z } from 'zod';
import { monitorComponentIds, monitorOpenApiPaths } from '../monitor/openapi.js';
import { probeIdSchema, waitQuerySchema } from './schemas.js';

/** The schemas registered (with .meta({ id })) in schemas.ts that become components of the document. */
const componentIds = [
  'ProbeRequest',
  'ProbeAccepted',
  'ProbeStatus',
  'Report',
  'Problem',
  ...monitorComponentIds,
] as const;

type JsonSchema = Record<string, unknown>;

// OpenAPI 3.1 speaks JSON Schema 2020-12, which is what z.toJSONSchema produces; only $schema is dropped.
function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
  });
  return rest as JsonSchema;
}

// One conversion of the registry, so components refer to each other (#/components/schemas/Report) by $ref.
function componentSchemas(): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  const components: Record<string, JsonSchema> = {};
  for (const id of componentIds) {
    const schema = schemas[id];
    if (!schema) throw new Error(`schema ${id} is not registered`);
    const { $schema: _dialect, $id: _id, ...rest } = schema as JsonSchema;
    components[id] = rest;
  }
  return components;
}

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

export function buildOpenApiDocument(options: { version: string; isAuthRequired: boolean }): JsonSchema {
  const security = options.isAuthRequired ? [{ bearer: [] }] : [];
  const waitParameter = schemaOf(waitQuerySchema.shape.wait.unwrap(), 'output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'reach',
      version: options.version,
      description:
        'Website reachability diagnostics as a service: submit a URL, a worker probes DNS, TCP, TLS and HTTP, ' +
        'and the report says why the site is (not) reachable.',
    },
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'One of the keys in API_KEYS.' },
      },
    },
    paths: {
      '/probe': {
        post: {
          summary: 'Submit a probe',
          security,
          parameters: [
            {
              name: 'wait',
              in: 'query',
              required: false,
              schema: waitParameter,
              description: 'Seconds to wait (0..60).',
            },
          ],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/ProbeRequest' } } },
          },
          responses: {
            '200': {
              description: 'Finished within ?wait: the report.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/ProbeStatus' } } },
            },
            '202': {
              description: 'Queued; GET the link for the result.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/ProbeAccepted' } } },
            },
            '400': problemResponse(
              'Malformed JSON, unknown fields, a URL that is not http(s), values out of range.',
            ),
            '401': problemResponse('Missing or wrong API key.'),
            '413': problemResponse('Body over 16 KiB.'),
            '415': problemResponse('Body not sent as application/json.'),
            '422': problemResponse(
              'The target (or a redirect hop, or an address it resolved to) is not allowed.',
            ),
            '429': problemResponse('Rate limit reached; see Retry-After.'),
            '503': problemResponse('Queue full or Redis unreachable; see Retry-After.'),
          },
        },
      },
      '/probe/{id}': {
        get: {
          summary: 'A probe’s status and report',
          security,
          parameters: [{ name: 'id', in: 'path', required: true, schema: schemaOf(probeIdSchema, 'input') }],
          responses: {
            '200': {
              description: 'Status, and the report once completed.',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/ProbeStatus' } } },
            },
            '404': problemResponse('Unknown id, or the result has expired.'),
            '503': problemResponse('Redis unreachable.'),
          },
        },
      },
      '/healthz': {
        get: { summary: 'The process is up', security: [], responses: { '200': { description: 'ok' } } },
      },
      '/readyz': {
        get: {
          summary: 'Redis reachable and the worker running',
          security: [],
          responses: { '200': { description: 'ready' }, '503': { description: 'not ready' } },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          security,
          responses: { '200': { description: 'text exposition' } },
        },
      },
      ...monitorOpenApiPaths(security),
    },
  };
}
