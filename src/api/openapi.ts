// The OpenAPI 3.1 document, generated from the zod schemas that validate the requests.
import { z } from 'zod';
import {
  componentRef,
  componentSchemas,
  type JsonObject,
  type OpenApiFragment,
  problemResponse,
} from '../requests/openapi.js';
import { problemSchema } from '../requests/problems.js';
import { probeRequestSchema } from '../requests/schemas.js';
import {
  probeAcceptedSchema,
  probeIdSchema,
  probeStatusSchema,
  reportSchema,
  vantageListSchema,
  waitQuerySchema,
} from './schemas.js';

/** The probe API's components, named here: the document holds these and those of the fragments it is given. */
const probeComponents = {
  ProbeRequest: probeRequestSchema,
  ProbeAccepted: probeAcceptedSchema,
  ProbeStatus: probeStatusSchema,
  Report: reportSchema,
  Problem: problemSchema,
};

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonObject {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    unrepresentable: 'any',
  });
  return rest as JsonObject;
}

/**
 * The document for the probe API and the fragments of the routers mounted beside it (the monitors, the status
 * page), each bringing its paths and the schemas behind its components.
 */
export function buildOpenApiDocument(options: {
  version: string;
  isAuthRequired: boolean;
  fragments?: readonly OpenApiFragment[];
}): JsonObject {
  const security = options.isAuthRequired ? [{ bearer: [] }] : [];
  const fragments = options.fragments ?? [];
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
      schemas: componentSchemas(
        Object.assign({}, probeComponents, ...fragments.map((fragment) => fragment.components)),
      ),
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
            content: { 'application/json': { schema: componentRef('ProbeRequest') } },
          },
          responses: {
            '200': {
              description: 'Finished within ?wait: the report.',
              content: { 'application/json': { schema: componentRef('ProbeStatus') } },
            },
            '202': {
              description: 'Queued; GET the link for the result.',
              content: { 'application/json': { schema: componentRef('ProbeAccepted') } },
            },
            '400': problemResponse(
              'Malformed JSON, unknown fields, a URL that is not http(s), values out of range.',
            ),
            '401': problemResponse('Missing or wrong API key.'),
            '413': problemResponse('Body over 16 KiB.'),
            '415': problemResponse('Body not sent as application/json.'),
            '422': problemResponse(
              'The target (or a redirect hop, or an address it resolved to) is not allowed, or a vantage named in `vantages` is unknown or not live.',
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
              content: { 'application/json': { schema: componentRef('ProbeStatus') } },
            },
            '404': problemResponse('Unknown id, or the result has expired.'),
            '503': problemResponse('Redis unreachable.'),
          },
        },
      },
      '/vantages': {
        get: {
          summary: 'The live vantage points',
          description:
            'Workers started as vantages (reach worker --vantage NAME) advertise themselves with a heartbeat; one that misses three beats drops out. POST /probe with `vantages` probes from them and compares.',
          security,
          responses: {
            '200': {
              description: 'The live vantages, by name.',
              content: { 'application/json': { schema: schemaOf(vantageListSchema, 'output') } },
            },
            '503': problemResponse('Redis unreachable.'),
          },
        },
      },
      '/healthz': {
        get: { summary: 'The process is up', security: [], responses: { '200': { description: 'ok' } } },
      },
      '/readyz': {
        get: {
          summary: 'Redis reachable and taking writes, and the worker running',
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
      ...Object.assign({}, ...fragments.map((fragment) => fragment.paths(security))),
    },
  };
}
