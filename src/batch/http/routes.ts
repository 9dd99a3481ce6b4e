// POST /batches, GET /batches/:id, GET /batches/:id/results and DELETE /batches/:id.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import express, { type Request, type Response, Router } from 'express';
import type { RedisClient } from '../../redis/connection.js';
import type { MemoryGauge } from '../../redis/memory.js';
import {
  fieldErrorsOf,
  HttpProblem,
  invalidRequest,
  requireRedis,
  unavailableOnRedisError,
} from '../../requests/problems.js';
import { emptyQuerySchema, jsonMediaTypes } from '../../requests/schemas.js';
import type { AddressPolicy } from '../../safety/address-policy.js';
import { checkTargetUrl, refuseTargets } from '../../safety/target-check.js';
import type { VantageRegistry, VantageSelection } from '../../vantages/registry.js';
import { noVantagePoints, selectedVantages } from '../../vantages/selection.js';
import { entryOf, type ListEntry, readEntries } from '../input.js';
import type { BatchItem } from '../item.js';
import { cancelledItem } from '../item-runner.js';
import { addChunkJobs, type BatchQueue, removeChunkJobs, removeItemJobs } from '../jobs.js';
import type { BatchMetrics } from '../metrics.js';
import type { ItemRecorder } from '../recorder.js';
import type { BadLine, BatchOptions, BatchRecord, BatchStore } from '../store.js';
import { type ResultFormat, streamResults } from './results.js';
import {
  type BatchStatus,
  badLinesShown,
  batchIdSchema,
  batchOptionsSchema,
  batchRequestSchema,
  batchTextQuerySchema,
  resultsQuerySchema,
} from './schemas.js';

export interface BatchRoutesOptions {
  store: BatchStore;
  queue: BatchQueue;
  record: ItemRecorder;
  metrics: BatchMetrics;
  redis: RedisClient;
  policy: AddressPolicy;
  memory: MemoryGauge;
  limits: { maxUrls: number; maxRunning: number; maxBodyBytes: number; chunkSize: number };
  jobOptions: Parameters<typeof addChunkJobs>[5];
  /** Aborted at shutdown: streams that follow a batch end, so the server can close. */
  closing: AbortSignal;
  /** Vantage points: a batch with `vantages` probes each URL from them and records the comparison. */
  vantages?: { registry: VantageRegistry };
}

const textMediaTypes = ['text/plain', 'text/csv'];

/** The batch routes, mounted at /batches behind the API key; they parse their own (larger) bodies. */
export function createBatchRoutes(options: BatchRoutesOptions): Router {
  const { store, queue, record, metrics, redis, policy, limits } = options;
  const router = Router();
  const jsonBody = express.json({ limit: limits.maxBodyBytes, strict: true, type: jsonMediaTypes });
  const textBody = express.text({ limit: limits.maxBodyBytes, type: textMediaTypes });

  router.post('/', jsonBody, textBody, async (request: Request, response: Response) => {
    const submission = await readSubmission(request);
    const batchOptions = submission.options;
    if (submission.vantages !== undefined && !options.vantages) throw noVantagePoints();
    const urls = submission.entries.flatMap((entry) => (entry.kind === 'url' ? [entry] : []));
    const badLines: BadLine[] = submission.entries.flatMap((entry) =>
      entry.kind === 'bad' ? [{ line: entry.lineNumber, reason: entry.reason }] : [],
    );
    if (urls.length === 0) {
      throw new HttpProblem(400, 'invalidRequest', 'the list holds no URL to probe', {
        errors: [
          { field: 'urls', message: 'no URL' },
          ...badLines
            .slice(0, badLinesShown)
            .map((bad) => ({ field: `line ${bad.line}`, message: bad.reason })),
        ],
      });
    }
    if (urls.length > limits.maxUrls) {
      throw new HttpProblem(
        413,
        'bodyTooLarge',
        `${urls.length} URLs; a batch holds at most ${limits.maxUrls}`,
        {
          field: 'urls',
        },
      );
    }
    // The options are the request's, not one URL's: a refused control or resolver refuses the batch.
    const refusal = refuseTargets(
      { controls: batchOptions.controls, resolvers: batchOptions.resolvers },
      policy,
    );
    if (refusal) {
      throw new HttpProblem(422, 'targetRefused', refusal.reason, {
        errors: [{ field: refusal.field, message: refusal.reason }],
      });
    }
    const clientId = String(response.locals.clientId ?? 'anonymous');
    requireRedis(redis);
    if (submission.vantages !== undefined && options.vantages) {
      const vantages = await selectedVantages(options.vantages.registry, submission.vantages);
      // Each URL is a probe from each vantage: the limit on URLs per batch bounds the probes.
      if (urls.length * vantages.length > limits.maxUrls) {
        throw new HttpProblem(
          413,
          'bodyTooLarge',
          `${urls.length} URLs from ${vantages.length} vantages are ${urls.length * vantages.length} probes; a batch holds at most ${limits.maxUrls}`,
          { field: 'urls' },
        );
      }
      batchOptions.vantages = vantages.map((vantage) => ({ name: vantage.name, labels: vantage.labels }));
    }
    if (await options.memory.nearCap()) {
      throw new HttpProblem(503, 'unavailable', 'the queue store is near its memory limit; try again later', {
        retryAfterSeconds: 30,
      });
    }
    const running = await storeCall(() => store.runningOf(clientId));
    if (running.length >= limits.maxRunning) {
      throw new HttpProblem(
        429,
        'rateLimited',
        `${running.length} batches of this key are running; at most ${limits.maxRunning} at once`,
        { retryAfterSeconds: 30 },
      );
    }

    const id = randomUUID();
    const items = urls.map((entry, index) => ({ index, url: entry.url }));
    const refused: BatchItem[] = [];
    const toRun = new Set<number>();
    for (const item of items) {
      const itemRefusal = checkTargetUrl(item.url, policy, 'url');
      if (itemRefusal)
        refused.push({
          ...item,
          status: 'refused',
          cause: 'refused',
          reason: itemRefusal.reason,
          address: itemRefusal.address,
        });
      else toRun.add(item.index);
    }
    const createdAtMs = Date.now();
    const itemUrls = items.map((item) => item.url);
    await storeCall(async () => {
      await store.create({
        id,
        clientId,
        urls: itemUrls,
        options: batchOptions,
        badLines,
        createdAtMs,
        chunkSize: limits.chunkSize,
      });
      await store.addRunning(clientId, id, createdAtMs);
    });
    metrics.batchesTotal.inc({ event: 'submitted' });
    try {
      // Recorded before the chunks are queued: a chunk's claim finds them ended and skips them.
      await Promise.all(refused.map((item) => record(id, item)));
      await addChunkJobs(queue, id, itemUrls, toRun, batchOptions, options.jobOptions, limits.chunkSize);
    } catch {
      // Half queued: the batch is cancelled, so every URL still ends with one result, and the client may retry.
      await cancelBatch(options, id, clientId).catch(() => undefined);
      throw new HttpProblem(503, 'unavailable', 'the queue store (Redis) failed while queueing; try again', {
        retryAfterSeconds: 2,
      });
    }
    const links = linksOf(id);
    response.setHeader('Location', links.self);
    response.status(202).json({
      id,
      total: items.length,
      refused: refused.length,
      badLineCount: badLines.length,
      badLines: badLines.slice(0, badLinesShown),
      links,
    });
  });

  router.get('/:id', async (request: Request, response: Response) => {
    checkQuery(emptyQuerySchema, request);
    const batch = await ownedBatch(store, redis, request, response);
    response.json(statusOf(batch));
  });

  router.get('/:id/results', async (request: Request, response: Response) => {
    const query = checkQuery(resultsQuerySchema, request);
    const batch = await ownedBatch(store, redis, request, response);
    const format: ResultFormat =
      request.accepts(['application/x-ndjson', 'text/csv', 'application/json']) === 'text/csv'
        ? 'csv'
        : 'ndjson';
    await streamResults({
      store,
      batch,
      format,
      response,
      causes: query.cause ? new Set(query.cause) : undefined,
      offset: query.offset ?? 0,
      isFollowing: query.follow === true,
      closing: options.closing,
    });
  });

  router.delete('/:id', async (request: Request, response: Response) => {
    checkQuery(emptyQuerySchema, request);
    const batch = await ownedBatch(store, redis, request, response);
    await storeCall(() => cancelBatch(options, batch.id, batch.clientId));
    const after = await storeCall(() => store.read(batch.id));
    response.json(statusOf(after ?? batch));
  });

  return router;
}

/** The body read as a list of entries (JSON urls or a text list) and the options (JSON fields or the query). */
async function readSubmission(
  request: Request,
): Promise<{ entries: ListEntry[]; options: BatchOptions; vantages: VantageSelection | undefined }> {
  if (request.is(jsonMediaTypes) && request.body !== undefined) {
    checkQuery(emptyQuerySchema, request);
    const body = batchRequestSchema.safeParse(request.body);
    if (!body.success) throw invalidRequest(fieldErrorsOf(body.error));
    const { urls, vantages, ...options } = body.data;
    return {
      entries: urls.map((text, position) => entryOf(text, position + 1, { kind: 'lines' })),
      options: withoutUndefined(options),
      vantages,
    };
  }
  if (request.is(textMediaTypes) && typeof request.body === 'string') {
    const { vantages, ...fields } = checkQuery(batchTextQuerySchema, request);
    const parsed = batchOptionsSchema.safeParse(withoutUndefined(fields));
    if (!parsed.success) throw invalidRequest(fieldErrorsOf(parsed.error, 'query'));
    const entries: ListEntry[] = [];
    // The same reading as `reach probe --file`: one URL a line or CSV with a url column, # comments, blank lines.
    for await (const entry of readEntries(Readable.from([request.body]))) entries.push(entry);
    return { entries, options: withoutUndefined(parsed.data), vantages };
  }
  throw new HttpProblem(
    415,
    'unsupportedMediaType',
    'send the batch as application/json ({ "urls": [...] }), or the list as text/plain or text/csv',
    { field: 'content-type' },
  );
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

function checkQuery<T>(
  schema: {
    safeParse(value: unknown): { success: true; data: T } | { success: false; error: import('zod').ZodError };
  },
  request: Request,
): T {
  const query = schema.safeParse(request.query);
  if (!query.success) throw invalidRequest(fieldErrorsOf(query.error, 'query'));
  return query.data;
}

/**
 * Cancels a batch: no new URL starts; each chunk still waiting is taken off the queue and its URLs without a result
 * recorded cancelled. A chunk being run ends the URLs it is probing with their reports and records the rest
 * cancelled, as soon as its worker sees the cancel. A batch queued before chunks has its URLs' own jobs removed.
 */
export async function cancelBatch(options: BatchRoutesOptions, id: string, clientId: string): Promise<void> {
  const { store, queue, record, metrics } = options;
  const previous = await store.cancel(id);
  if (previous === 'running') metrics.batchesTotal.inc({ event: 'cancelled' });
  await store.removeRunning(clientId, id);
  const batch = await store.read(id);
  if (!batch) return;
  const pending = await store.pendingIndexes(id, batch.total);
  if (pending.length === 0) return;
  let removed: number[];
  if (batch.chunkSize === undefined) removed = await removeItemJobs(queue, id, pending);
  else {
    const isPending = new Set(pending);
    removed = (await removeChunkJobs(queue, id, batch.total, batch.chunkSize)).filter((index) =>
      isPending.has(index),
    );
  }
  for (let start = 0; start < removed.length; start += 500) {
    const indexes = removed.slice(start, start + 500);
    const urls = await store.urlsAt(id, indexes);
    await Promise.all(
      indexes.map((index, position) => record(id, cancelledItem(index, urls[position] ?? ''))),
    );
  }
}

function linksOf(id: string) {
  return { self: `/batches/${id}`, results: `/batches/${id}/results` };
}

/** The batch named in the path, when it exists and belongs to the caller's key (without keys, to anyone). */
async function ownedBatch(
  store: BatchStore,
  redis: RedisClient,
  request: Request,
  response: Response,
): Promise<BatchRecord> {
  const id = String(request.params.id);
  if (!batchIdSchema.safeParse(id).success) throw notFound(id);
  requireRedis(redis);
  const batch = await storeCall(() => store.read(id));
  const clientId = String(response.locals.clientId ?? '');
  // Another key's batch is answered as unknown: its id tells nothing about whether it exists.
  if (!batch || (clientId.startsWith('key:') && batch.clientId !== clientId)) throw notFound(id);
  return batch;
}

export function statusOf(batch: BatchRecord): BatchStatus {
  const endMs = batch.finishedAtMs ?? Date.now();
  const elapsedSeconds = batch.startedAtMs === undefined ? 0 : (endMs - batch.startedAtMs) / 1000;
  return {
    id: batch.id,
    state: batch.state,
    total: batch.total,
    done: batch.done,
    pending: batch.total - batch.done,
    byStatus: batch.byStatus,
    byCause: batch.byCause,
    badLineCount: batch.badLineCount,
    createdAt: new Date(batch.createdAtMs).toISOString(),
    ...(batch.startedAtMs === undefined ? {} : { startedAt: new Date(batch.startedAtMs).toISOString() }),
    ...(batch.finishedAtMs === undefined ? {} : { finishedAt: new Date(batch.finishedAtMs).toISOString() }),
    ratePerSecond: elapsedSeconds > 0 ? Math.round((batch.done / elapsedSeconds) * 100) / 100 : 0,
    links: linksOf(batch.id),
  };
}

function notFound(id: string): HttpProblem {
  return new HttpProblem(404, 'notFound', `no batch with id ${id} (unknown, or its results have expired)`, {
    field: 'id',
  });
}

function storeCall<T>(action: () => Promise<T>): Promise<T> {
  return unavailableOnRedisError(action, 'the batch store (Redis)');
}
