// The monitor and status paths of the OpenAPI document, with the zod schemas behind their components.
import { z } from 'zod';
import {
  type JsonObject,
  type OpenApiFragment,
  problemResponse as problem,
  componentRef as ref,
} from '../../requests/openapi.js';
import { historyEntrySchema } from '../records.js';
import { badgeKinds, badgeQuerySchema } from '../status/badge.js';
import { incidentPageQuerySchema, listingQuerySchema } from '../status/listing.js';
import { componentExtensionSchema, statusSummarySchema } from '../status/schema.js';
import { statuspagePaths } from '../status/statuspage.js';
import { incidentQuerySchema, incidentViewSchema } from './incident-routes.js';
import {
  bulkItemResultSchema,
  bulkResultSchema,
  maintenanceWindowSchema,
  monitorCreateSchema,
  monitorOutputSchema,
  monitorPatchSchema,
  recurringMaintenanceSchema,
  webhookInputSchema,
} from './schemas.js';

const json = (schema: JsonObject) => ({ 'application/json': { schema } });
const idParameter = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', format: 'uuid' },
  description: 'The monitor id returned by POST /monitors.',
};

/** The status endpoints' revalidation: one body, and so one ETag, per cache window. */
const ifNoneMatchParameter = {
  name: 'If-None-Match',
  in: 'header',
  required: false,
  schema: { type: 'string' },
  description: 'ETags of bodies already held (or *): 304 when the current body has one of them.',
};
const statusHeaders = {
  ETag: {
    schema: { type: 'string' },
    description:
      'Strong: a SHA-256 of the body, the same for every answer within a cache window; a gzipped body has its own (-gzip suffix).',
  },
  'Cache-Control': { schema: { type: 'string' }, description: 'public, max-age=STATUS_CACHE_SECONDS' },
  'Content-Encoding': {
    schema: { type: 'string', enum: ['gzip'] },
    description: 'gzip for a client that accepts it, when the body is 1 KiB or more.',
  },
  Vary: { schema: { type: 'string' }, description: 'Accept-Encoding' },
};
const notModified = {
  description: 'The body with the ETag sent in If-None-Match is still current; no body.',
  headers: statusHeaders,
};

/** The query parameters of a strict zod object, each with its description. */
function queryParameters(schema: z.ZodObject): JsonObject[] {
  const document = z.toJSONSchema(schema, { io: 'input' }) as {
    properties?: Record<string, JsonObject & { description?: string }>;
  };
  return Object.entries(document.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: false,
    schema: property,
    ...(property.description ? { description: property.description } : {}),
  }));
}

const listingParameters = queryParameters(listingQuerySchema);
const pagedPathParameters: Record<string, JsonObject[]> = {
  'components.json': listingParameters,
  'incidents/unresolved.json': queryParameters(incidentPageQuerySchema),
};

/** The Statuspage v2 public API paths: the shapes Atlassian documents, for existing clients. */
function statuspageOpenApiPaths(): Record<string, JsonObject> {
  return Object.fromEntries(
    Object.keys(statuspagePaths).map((path) => [
      `/api/v2/${path}`,
      {
        get: {
          summary: `Statuspage v2 ${path} (public); groups are group components listing their monitors`,
          security: [],
          parameters: [ifNoneMatchParameter, ...(pagedPathParameters[path] ?? [])],
          responses: {
            '200': {
              description: 'JSON in the Statuspage v2 shape.',
              headers: statusHeaders,
              content: json({ type: 'object' }),
            },
            '304': notModified,
            '400': problem('Invalid query.'),
            '503': problem('Redis unreachable.'),
          },
        },
      },
    ]),
  );
}

function monitorPaths(security: unknown[]): Record<string, JsonObject> {
  const common = {
    '401': problem('Missing or wrong API key.'),
    '429': problem('Rate limit reached; see Retry-After.'),
    '503': problem('Redis unreachable; see Retry-After.'),
  };
  return {
    '/monitors': {
      post: {
        summary: 'Create a monitor (scheduled, first run queued at once)',
        security,
        requestBody: { required: true, content: json(ref('MonitorInput')) },
        responses: {
          '201': { description: 'Created.', content: json(ref('Monitor')) },
          '400': problem('Invalid field (named in `field`), unknown field, malformed JSON.'),
          '415': problem('Body not sent as application/json.'),
          '422': problem('The URL, a control, a resolver or a webhook is not an allowed target.'),
          ...common,
        },
      },
      get: {
        summary: 'List monitors with their state',
        security,
        responses: {
          '200': {
            description: 'All monitors.',
            content: json({
              type: 'object',
              properties: { monitors: { type: 'array', items: ref('Monitor') } },
            }),
          },
          ...common,
        },
      },
    },
    '/monitors/bulk': {
      post: {
        summary: 'Create many monitors (a JSON array, or one per line as NDJSON); an answer per item',
        description:
          'Each item is checked as POST /monitors checks one; the valid ones are created together (record, shard, first run). One request spends one point of the write rate limit; MONITOR_BULK_MAX_ITEMS and MONITOR_BULK_MAX_BYTES bound it.',
        security,
        requestBody: {
          required: true,
          content: {
            ...json({ type: 'array', items: ref('MonitorInput') }),
            'application/x-ndjson': { schema: ref('MonitorInput') },
          },
        },
        responses: {
          '200': {
            description:
              'Every item answered, in order: 201 with its id, or the problem POST /monitors would answer for it.',
            content: json(ref('MonitorBulkResult')),
          },
          '400': problem('Malformed JSON, not an array, or no item.'),
          '413': problem('More items than MONITOR_BULK_MAX_ITEMS, or a body over MONITOR_BULK_MAX_BYTES.'),
          '415': problem('Body neither application/json nor application/x-ndjson.'),
          ...common,
        },
      },
    },
    '/monitors/{id}': {
      get: {
        summary: 'A monitor with its state and last run',
        security,
        parameters: [idParameter],
        responses: {
          '200': { description: 'The monitor.', content: json(ref('Monitor')) },
          '404': problem('Unknown id.'),
          ...common,
        },
      },
      patch: {
        summary: 'Change a monitor (its schedule follows)',
        security,
        parameters: [idParameter],
        requestBody: { required: true, content: json(ref('MonitorPatch')) },
        responses: {
          '200': { description: 'The updated monitor.', content: json(ref('Monitor')) },
          '400': problem('Invalid field.'),
          '404': problem('Unknown id.'),
          '422': problem('Not an allowed target.'),
          ...common,
        },
      },
      delete: {
        summary: 'Delete a monitor, its schedule and history',
        security,
        parameters: [idParameter],
        responses: { '204': { description: 'Deleted.' }, '404': problem('Unknown id.'), ...common },
      },
    },
    '/monitors/{id}/history': {
      get: {
        summary: 'Runs of a monitor, newest first',
        security,
        parameters: [
          idParameter,
          { name: 'since', in: 'query', required: false, schema: { type: 'string', format: 'date-time' } },
          {
            name: 'limit',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 1, maximum: 10_000 },
          },
        ],
        responses: {
          '200': {
            description: 'The runs kept (see the retention settings).',
            content: json({
              type: 'object',
              properties: {
                monitorId: { type: 'string' },
                entries: { type: 'array', items: ref('HistoryEntry') },
              },
            }),
          },
          '400': problem('Invalid query.'),
          '404': problem('Unknown id.'),
          ...common,
        },
      },
    },
    '/status.json': {
      get: {
        summary: 'Statuspage-compatible summary with per-component uptime, latency and last verdict (public)',
        description:
          'Without a query: every component (the contract as before). With page, per_page, group, state or q: that page of the filtered components, and reach.page says which.',
        security: [],
        parameters: [ifNoneMatchParameter, ...listingParameters],
        responses: {
          '200': { description: 'The summary.', headers: statusHeaders, content: json(ref('StatusSummary')) },
          '304': notModified,
          '503': problem('Redis unreachable.'),
        },
      },
    },
    '/status': {
      get: {
        summary: 'The HTML status page (public): the summary, then one page of the monitors',
        security: [],
        parameters: [ifNoneMatchParameter, ...listingParameters],
        responses: {
          '200': { description: 'HTML.', headers: statusHeaders, content: { 'text/html': {} } },
          '304': notModified,
          '400': problem('Invalid query.'),
          '503': problem('Redis unreachable.'),
        },
      },
    },
    ...statuspageOpenApiPaths(),
    '/history.atom': {
      get: {
        summary: 'Atom feed of the incidents open now or resolved in the last 7 days (public)',
        security: [],
        parameters: [ifNoneMatchParameter],
        responses: {
          '200': {
            description: 'Atom (RFC 4287).',
            headers: statusHeaders,
            content: { 'application/atom+xml': {} },
          },
          '304': notModified,
          '503': problem('Redis unreachable.'),
        },
      },
    },
    '/incidents': {
      get: {
        summary: "Incidents: a monitor's own and shared ones (one cause, many monitors) (public)",
        security: [],
        parameters: queryParameters(incidentQuerySchema),
        responses: {
          '200': {
            description: 'Newest first.',
            content: json({
              type: 'object',
              properties: { incidents: { type: 'array', items: ref('Incident') } },
            }),
          },
          '400': problem('Invalid query.'),
          '503': problem('Redis unreachable.'),
        },
      },
    },
    '/incidents/{id}': {
      get: {
        summary: 'One incident (public)',
        security: [],
        parameters: [{ ...idParameter, description: 'The incident id.' }],
        responses: {
          '200': { description: 'The incident.', content: json(ref('Incident')) },
          '404': problem('Unknown incident.'),
          '503': problem('Redis unreachable.'),
        },
      },
    },
    '/badge/{id}/{kind}.svg': {
      get: {
        summary: 'A shields-style SVG badge of a monitor: its state, uptime or response time (public)',
        security: [],
        parameters: [
          idParameter,
          { name: 'kind', in: 'path', required: true, schema: { type: 'string', enum: [...badgeKinds] } },
          ...queryParameters(badgeQuerySchema),
          ifNoneMatchParameter,
        ],
        responses: {
          '200': { description: 'SVG.', headers: statusHeaders, content: { 'image/svg+xml': {} } },
          '304': notModified,
          '400': problem('Invalid query.'),
          '404': problem('Unknown monitor or kind of badge.'),
          '503': problem('Redis unreachable.'),
        },
      },
    },
  };
}

/** What the monitors and the status page add to the document. */
export const monitorOpenApi: OpenApiFragment = {
  components: {
    MonitorInput: monitorCreateSchema,
    MonitorPatch: monitorPatchSchema,
    Monitor: monitorOutputSchema,
    MonitorBulkItem: bulkItemResultSchema,
    MonitorBulkResult: bulkResultSchema,
    MaintenanceWindow: maintenanceWindowSchema,
    RecurringMaintenanceWindow: recurringMaintenanceSchema,
    WebhookInput: webhookInputSchema,
    HistoryEntry: historyEntrySchema,
    Incident: incidentViewSchema,
    StatusSummary: statusSummarySchema,
    StatusComponentExtension: componentExtensionSchema,
  },
  paths: monitorPaths,
};
