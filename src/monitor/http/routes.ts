// The monitor API (/monitors) and the public status endpoints (/status.json, /status).
import { randomUUID } from 'node:crypto';
import { type Request, type Response, Router } from 'express';
import {
  fieldErrorsOf,
  HttpProblem,
  invalidRequest,
  unavailableOnRedisError,
} from '../../requests/problems.js';
import type { AddressPolicy } from '../../safety/address-policy.js';
import { refuseTargets } from '../../safety/target-check.js';
import type { ChannelStore } from '../alerting/channel-store.js';
import { daysLeftOf } from '../certificate-expiry.js';
import type { MonitorConfig } from '../config.js';
import { type MonitorRecord, monitorIdSchema } from '../records.js';
import type { MonitorScheduler } from '../scheduler.js';
import type { MonitorStatus } from '../state-machine.js';
import {
  gzipMinBytes,
  gzippedOf,
  isNoneMatchSatisfied,
  type RenderedBody,
  StatusRenderCache,
} from '../status/cache.js';
import { StatusDataSource } from '../status/data.js';
import { renderStatusPage } from '../status/page.js';
import { toStatusSummary } from '../status/summary.js';
import type { MonitorStore } from '../store.js';
import { refuseUnknownChannels } from './channel-routes.js';
import { requireEmptyQuery, requireJson } from './request-checks.js';
import {
  defaultConfirmations,
  historyQuerySchema,
  type MonitorInput,
  type MonitorOutput,
  monitorCreateSchema,
  monitorPatchSchema,
} from './schemas.js';

export interface MonitorApiDeps {
  store: MonitorStore;
  /** The notification channels a monitor may name. */
  channels: ChannelStore;
  scheduler: MonitorScheduler;
  policy: AddressPolicy;
  config: MonitorConfig;
}

export function createMonitorRouter(deps: MonitorApiDeps): Router {
  const { store, scheduler, policy } = deps;
  const router = Router();

  router.post('/', async (request: Request, response: Response) => {
    requireJson(request);
    requireEmptyQuery(request);
    const body = monitorCreateSchema.safeParse(request.body);
    if (!body.success) throw invalidRequest(fieldErrorsOf(body.error));
    refuseUnsafe(body.data, policy);
    await refuseUnknownChannels(deps.channels, body.data.channels);
    const nowText = new Date().toISOString();
    const record = recordOf(randomUUID(), body.data, nowText, nowText);
    await unavailableOnRedisError(async () => {
      await store.putMonitor(record);
      await scheduler.upsert(record);
      // The first check now, not at the first tick: the page shows a real state within seconds.
      await scheduler.runNow(record.id, 'manual');
    });
    response.status(201).setHeader('Location', `/monitors/${record.id}`);
    response.json(outputOf(record, undefined));
  });

  router.get('/', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    const [monitors, statuses] = await unavailableOnRedisError(() =>
      Promise.all([store.listMonitors(), store.getStatuses()]),
    );
    response.json({ monitors: monitors.map((monitor) => outputOf(monitor, statuses.get(monitor.id))) });
  });

  router.get('/:id', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    const monitor = await findMonitor(store, request);
    const status = await unavailableOnRedisError(() => store.getStatus(monitor.id));
    response.json(outputOf(monitor, status.version > 0 ? status : undefined));
  });

  router.patch('/:id', async (request: Request, response: Response) => {
    requireJson(request);
    requireEmptyQuery(request);
    const body = monitorPatchSchema.safeParse(request.body);
    if (!body.success) throw invalidRequest(fieldErrorsOf(body.error));
    const current = await findMonitor(store, request);
    const merged = monitorCreateSchema.safeParse({ ...inputOf(current), ...body.data });
    if (!merged.success) throw invalidRequest(fieldErrorsOf(merged.error));
    refuseUnsafe(merged.data, policy);
    await refuseUnknownChannels(deps.channels, merged.data.channels);
    const record = recordOf(current.id, merged.data, current.createdAt, new Date().toISOString());
    await unavailableOnRedisError(async () => {
      await store.putMonitor(record);
      await scheduler.upsert(record);
    });
    const status = await unavailableOnRedisError(() => store.getStatus(record.id));
    response.json(outputOf(record, status.version > 0 ? status : undefined));
  });

  router.delete('/:id', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    const monitor = await findMonitor(store, request);
    await unavailableOnRedisError(async () => {
      await scheduler.remove(monitor.id);
      await store.deleteMonitor(monitor.id);
    });
    response.status(204).end();
  });

  router.get('/:id/history', async (request: Request, response: Response) => {
    const query = historyQuerySchema.safeParse(request.query);
    if (!query.success) throw invalidRequest(fieldErrorsOf(query.error, 'query'));
    const monitor = await findMonitor(store, request);
    const entries = await unavailableOnRedisError(() =>
      store.history(monitor.id, {
        ...(query.data.since ? { sinceMs: Date.parse(query.data.since) } : {}),
        limit: query.data.limit ?? 100,
      }),
    );
    response.json({ monitorId: monitor.id, entries });
  });

  return router;
}

export interface StatusRouterDeps {
  store: MonitorStore;
  config: MonitorConfig;
  /** Milliseconds since the epoch; tests pass their own to step past the cache window. */
  clock?: () => number;
}

/**
 * Public: mounted before any API-key check. One gathering of the data serves both views within the cache
 * window, and each view is rendered once per gathering (see StatusRenderCache).
 */
export function createStatusRouter(deps: StatusRouterDeps): Router {
  const { store, config } = deps;
  const router = Router();
  const source = new StatusDataSource(store);
  const page = { id: 'reach', name: config.status.title, url: `${config.publicBaseUrl ?? ''}/status` };
  const renderings = new StatusRenderCache({
    gather: (nowMs) => unavailableOnRedisError(() => source.gather(nowMs)),
    render: {
      json: (data) => ({
        text: JSON.stringify(toStatusSummary(data, page)),
        contentType: 'application/json; charset=utf-8',
      }),
      html: (data) => ({
        text: renderStatusPage(data, {
          title: config.status.title,
          refreshSeconds: config.status.refreshSeconds,
        }),
        contentType: 'text/html; charset=utf-8',
      }),
    },
    cacheSeconds: config.status.cacheSeconds,
    clock: deps.clock ?? Date.now,
  });
  const send = async (request: Request, response: Response, rendered: RenderedBody): Promise<void> => {
    response.setHeader('Cache-Control', `public, max-age=${config.status.cacheSeconds}`);
    response.vary('Accept-Encoding');
    const isGzipped =
      rendered.body.length >= gzipMinBytes && request.acceptsEncodings('gzip', 'identity') === 'gzip';
    const representation = isGzipped ? await gzippedOf(rendered) : rendered;
    response.setHeader('ETag', representation.etag);
    if (isNoneMatchSatisfied(request.get('if-none-match'), representation.etag)) {
      response.status(304).end();
      return;
    }
    response.setHeader('Content-Type', rendered.contentType);
    if (isGzipped) response.setHeader('Content-Encoding', 'gzip');
    response.send(representation.body);
  };

  router.get('/status.json', async (request: Request, response: Response) => {
    const rendered = await renderings.get('json');
    response.setHeader('Access-Control-Allow-Origin', '*');
    await send(request, response, rendered);
  });

  const pagePolicy = statusPagePolicy(config.status.frameAncestors);
  router.get('/status', async (request: Request, response: Response) => {
    for (const [name, value] of Object.entries(pagePolicy)) response.setHeader(name, value);
    await send(request, response, await renderings.get('html'));
  });

  return router;
}

/**
 * The page is plain HTML with one inline style sheet: nothing else may load, and only the operator's chosen
 * origins (STATUS_FRAME_ANCESTORS) may frame it, so it cannot be embedded to mislead.
 */
function statusPagePolicy(frameAncestors: string[]): Record<string, string> {
  const ancestors = frameAncestors.length > 0 ? frameAncestors.join(' ') : "'none'";
  return {
    'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors ${ancestors}`,
    ...(frameAncestors.length === 0 ? { 'X-Frame-Options': 'DENY' } : {}),
  };
}

async function findMonitor(store: MonitorStore, request: Request): Promise<MonitorRecord> {
  const id = String(request.params.id);
  const notFound = new HttpProblem(404, 'notFound', `no monitor with id ${id}`, { field: 'id' });
  if (!monitorIdSchema.safeParse(id).success) throw notFound;
  const monitor = await unavailableOnRedisError(() => store.getMonitor(id));
  if (!monitor) throw notFound;
  return monitor;
}

function refuseUnsafe(input: MonitorInput, policy: AddressPolicy): void {
  const refusal = refuseTargets(
    {
      url: input.url,
      controls: input.controls,
      resolvers: input.resolvers,
      webhookUrls: input.webhooks?.map((webhook) => webhook.url),
    },
    policy,
  );
  if (refusal) {
    throw new HttpProblem(422, 'targetRefused', refusal.reason, {
      errors: [{ field: refusal.field, message: refusal.reason }],
    });
  }
}

function recordOf(id: string, input: MonitorInput, createdAt: string, updatedAt: string): MonitorRecord {
  return {
    id,
    name: input.name,
    url: input.url,
    intervalSeconds: input.intervalSeconds,
    ...(input.timeoutMs !== undefined ? { timeoutMs: input.timeoutMs } : {}),
    ...(input.resolvers ? { resolvers: input.resolvers } : {}),
    ...(input.controls ? { controls: input.controls } : {}),
    confirmations: input.confirmations ?? defaultConfirmations,
    ...(input.slowFirstByteMs !== undefined ? { slowFirstByteMs: input.slowFirstByteMs } : {}),
    tags: input.tags ?? [],
    maintenance: input.maintenance ?? [],
    ...(input.recurringMaintenance && input.recurringMaintenance.length > 0
      ? { recurringMaintenance: input.recurringMaintenance }
      : {}),
    webhooks: input.webhooks ?? [],
    ...(input.channels && input.channels.length > 0 ? { channels: input.channels } : {}),
    ...(input.certificateExpiryDays ? { certificateExpiryDays: input.certificateExpiryDays } : {}),
    ...(input.vantages !== undefined ? { vantages: input.vantages } : {}),
    ...(input.quorum !== undefined ? { quorum: input.quorum } : {}),
    createdAt,
    updatedAt,
  };
}

function inputOf(record: MonitorRecord): MonitorInput {
  const { id: _id, createdAt: _created, updatedAt: _updated, ...input } = record;
  return input;
}

function outputOf(record: MonitorRecord, status: MonitorStatus | undefined): MonitorOutput {
  const { webhooks, ...rest } = record;
  const last = status?.lastRun;
  return {
    ...rest,
    webhooks: webhooks.map((webhook) => ({ url: webhook.url })),
    state: status?.state ?? 'pending',
    ...(status ? { stateSince: new Date(status.sinceMs).toISOString() } : {}),
    ...(last
      ? {
          lastRun: {
            at: last.at,
            health: last.health,
            cause: last.cause,
            code: last.code,
            summary: last.summary,
            durationMs: last.durationMs,
            ...(last.warnings ? { warnings: last.warnings } : {}),
            ...(last.vantages ? { vantages: last.vantages } : {}),
          },
        }
      : {}),
    ...(status?.openIncidentId ? { openIncidentId: status.openIncidentId } : {}),
    ...(last?.certificateNotAfter
      ? {
          certificate: {
            notAfter: last.certificateNotAfter,
            daysLeft: daysLeftOf(last.certificateNotAfter, Date.now()),
          },
        }
      : {}),
    links: { self: `/monitors/${record.id}`, history: `/monitors/${record.id}/history` },
  };
}
