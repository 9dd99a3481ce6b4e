// POST /monitors/bulk: many monitors in one request (a JSON array, or NDJSON), each checked as POST /monitors checks
// one, the accepted ones created together (bulk-create.ts), and an answer per item.
import { randomUUID } from 'node:crypto';
import express, { type Request, type Response, Router } from 'express';
import type { Counter } from 'prom-client';
import {
  fieldErrorsOf,
  HttpProblem,
  invalidRequest,
  problemTypes,
  unavailableOnRedisError,
} from '../../requests/problems.js';
import { jsonMediaTypes } from '../../requests/schemas.js';
import { createMonitors } from '../bulk-create.js';
import type { MonitorRecord } from '../records.js';
import { unknownChannelsProblem } from './channel-routes.js';
import { requireEmptyQuery } from './request-checks.js';
import { type MonitorApiDeps, recordOf, refuseUnsafe } from './routes.js';
import { type BulkItemResult, type MonitorInput, monitorCreateSchema } from './schemas.js';

export const ndjsonMediaTypes = ['application/x-ndjson', 'application/jsonl'];

export type BulkItemOutcome = 'created' | 'invalid' | 'refused' | 'unavailable';

export interface MonitorBulkDeps extends MonitorApiDeps {
  /** reach_monitor_bulk_items_total{outcome}, when the API has a registry. */
  bulkItems?: Counter<'outcome'>;
}

/** Mounted at /monitors/bulk before /monitors, behind the API key and the write rate limit; it parses its own body. */
export function createMonitorBulkRouter(deps: MonitorBulkDeps): Router {
  const { maxItems, maxBodyBytes } = deps.config.bulk;
  const router = Router();
  const jsonBody = express.json({ limit: maxBodyBytes, strict: true, type: jsonMediaTypes });
  const ndjsonBody = express.text({ limit: maxBodyBytes, type: ndjsonMediaTypes });

  router.post('/', jsonBody, ndjsonBody, async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    const items = readItems(request);
    if (items.length === 0)
      throw new HttpProblem(400, 'invalidRequest', 'the request holds no monitor', { field: 'body' });
    if (items.length > maxItems) {
      throw new HttpProblem(
        413,
        'bodyTooLarge',
        `${items.length} monitors; a request holds at most ${maxItems} (MONITOR_BULK_MAX_ITEMS)`,
        { field: 'body' },
      );
    }

    // Each item as POST /monitors checks it: the schema, then the address policy, then its channels.
    const results: BulkItemResult[] = new Array(items.length);
    const accepted: Array<{ index: number; input: MonitorInput }> = [];
    items.forEach((item, index) => {
      const checked = checkItem(item, deps);
      if (checked instanceof HttpProblem) results[index] = failed(index, item, checked);
      else accepted.push({ index, input: checked });
    });
    const channelIds = [...new Set(accepted.flatMap(({ input }) => input.channels ?? []))];
    const missing = new Set(await unavailableOnRedisError(() => deps.channels.missing(channelIds)));
    const nowText = new Date().toISOString();
    const toCreate: Array<{ index: number; record: MonitorRecord }> = [];
    for (const { index, input } of accepted) {
      const problem = unknownChannelsProblem(input.channels, missing);
      if (problem) results[index] = failed(index, items[index], problem);
      else toCreate.push({ index, record: recordOf(randomUUID(), input, nowText, nowText) });
    }

    const creation = await createMonitors(
      deps,
      toCreate.map(({ record }) => record),
      { firstRunWithinMs: deps.config.bulk.firstRunWithinMs },
    );
    // Nothing written and Redis failing: the request as a whole is unavailable, as POST /monitors would be.
    if (creation.error !== undefined && creation.created === 0) {
      throw new HttpProblem(503, 'unavailable', 'the store (Redis) is unavailable; try again shortly', {
        retryAfterSeconds: 2,
      });
    }
    toCreate.forEach(({ index, record }, position) => {
      results[index] =
        position < creation.created
          ? {
              index,
              status: 201,
              id: record.id,
              links: { self: `/monitors/${record.id}`, history: `/monitors/${record.id}/history` },
            }
          : failed(
              index,
              items[index],
              new HttpProblem(
                503,
                'unavailable',
                'the store (Redis) failed before this monitor was created; send it again',
              ),
            );
    });

    const counts: Record<BulkItemOutcome, number> = { created: 0, invalid: 0, refused: 0, unavailable: 0 };
    for (const result of results) counts[outcomeOf(result)] += 1;
    for (const [outcome, count] of Object.entries(counts))
      if (count > 0) deps.bulkItems?.inc({ outcome }, count);
    response.json({ created: counts.created, failed: items.length - counts.created, items: results });
  });
  // Anything else is not a monitor id under /monitors: answered here, so the request spends no second budget.
  router.all('/', (_request: Request, response: Response) => {
    response.setHeader('Allow', 'POST');
    throw new HttpProblem(405, 'invalidRequest', 'POST /monitors/bulk is the only method here', {
      field: 'method',
    });
  });

  return router;
}

/** The items of the body: a JSON array, or one JSON value per non-blank NDJSON line (a bad line is its item's fault). */
function readItems(request: Request): unknown[] {
  if (request.is(ndjsonMediaTypes)) {
    const text = typeof request.body === 'string' ? request.body : '';
    return text
      .split('\n')
      .map((line, lineIndex) => ({ line: line.trim(), lineNumber: lineIndex + 1 }))
      .filter(({ line }) => line.length > 0)
      .map(({ line, lineNumber }) => {
        try {
          return JSON.parse(line) as unknown;
        } catch {
          return new MalformedLine(lineNumber);
        }
      });
  }
  if (!request.is(jsonMediaTypes)) {
    throw new HttpProblem(
      415,
      'unsupportedMediaType',
      'send a JSON array as application/json, or one monitor per line as application/x-ndjson',
      { field: 'content-type' },
    );
  }
  if (!Array.isArray(request.body)) {
    throw new HttpProblem(400, 'invalidRequest', 'the body must be a JSON array of monitors', {
      field: 'body',
    });
  }
  return request.body;
}

class MalformedLine {
  constructor(readonly lineNumber: number) {}
}

function checkItem(item: unknown, deps: MonitorApiDeps): MonitorInput | HttpProblem {
  if (item instanceof MalformedLine)
    return new HttpProblem(400, 'malformedJson', `line ${item.lineNumber} is not JSON`, { field: 'body' });
  const body = monitorCreateSchema.safeParse(item);
  if (!body.success) return invalidRequest(fieldErrorsOf(body.error));
  try {
    refuseUnsafe(body.data, deps.policy);
  } catch (error) {
    if (error instanceof HttpProblem) return error;
    throw error;
  }
  return body.data;
}

/** The item's answer: the problem POST /monitors would have answered for it (without `instance`). */
function failed(index: number, item: unknown, problem: HttpProblem): BulkItemResult {
  const { errors, retryAfterSeconds: _retry, ...extensions } = problem.extra;
  const kind = problemTypes[problem.kind];
  return {
    index,
    ...(item instanceof MalformedLine ? { line: item.lineNumber } : {}),
    status: problem.status,
    problem: {
      type: kind.type,
      title: kind.title,
      status: problem.status,
      detail: problem.detail,
      ...(errors ? { field: errors[0]?.field, errors } : {}),
      ...extensions,
    },
  };
}

function outcomeOf(result: BulkItemResult): BulkItemOutcome {
  if (result.status === 201) return 'created';
  if (result.status === 422) return 'refused';
  if (result.status === 503) return 'unavailable';
  return 'invalid';
}
