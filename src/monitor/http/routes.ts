// The monitor API (/monitors); the public status endpoints are in status-routes.ts.
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
import { memberDueAtMs, shardIdOf, shardOf } from '../schedule/shards.js';
import type { MonitorScheduler } from '../scheduler.js';
import type { MonitorStatus } from '../state-machine.js';
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

export { createStatusRouter, type StatusRouterDeps } from './status-routes.js';

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
    const nextTickMs = await unavailableOnRedisError(async () => {
      await store.putMonitor(record);
      await scheduler.upsert(record);
      // The first check now, not at the first tick: the page shows a real state within seconds.
      await scheduler.runNow(record.id, 'manual');
      return scheduler.nextTickMs(record);
    });
    response.status(201).setHeader('Location', `/monitors/${record.id}`);
    response.json(outputOf(record, undefined, nextTickMs));
  });

  router.get('/', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    // The next ticks of all shards in one read: one job scheduler per shard, not per monitor.
    const [monitors, statuses, nextTicks] = await unavailableOnRedisError(() =>
      Promise.all([store.listMonitors(), store.getStatuses(), scheduler.nextTicksByShard()]),
    );
    response.json({
      monitors: monitors.map((monitor) => {
        const shard = shardOf(monitor);
        const tickMs = nextTicks.get(shardIdOf(shard));
        const dueMs = tickMs === undefined ? undefined : memberDueAtMs(monitor.id, shard, tickMs);
        return outputOf(monitor, statuses.get(monitor.id), dueMs);
      }),
    });
  });

  router.get('/:id', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    const monitor = await findMonitor(store, request);
    const [status, nextTickMs] = await unavailableOnRedisError(() =>
      Promise.all([store.getStatus(monitor.id), scheduler.nextTickMs(monitor)]),
    );
    response.json(outputOf(monitor, status.version > 0 ? status : undefined, nextTickMs));
  });

  router.patch('/:id', async (request: Request, response: Response) => {
    requireJson(request);
    requireEmptyQuery(request);
    const body = monitorPatchSchema.safeParse(request.body);
    if (!body.success) throw invalidRequest(fieldErrorsOf(body.error));
    const current = await findMonitor(store, request);
    const { group, ...patch } = body.data;
    const { group: currentGroup, ...kept } = inputOf(current);
    const nextGroup = group === null ? undefined : (group ?? currentGroup);
    const merged = monitorCreateSchema.safeParse({
      ...kept,
      ...patch,
      ...(nextGroup !== undefined ? { group: nextGroup } : {}),
    });
    if (!merged.success) throw invalidRequest(fieldErrorsOf(merged.error));
    refuseUnsafe(merged.data, policy);
    await refuseUnknownChannels(deps.channels, merged.data.channels);
    const record = recordOf(current.id, merged.data, current.createdAt, new Date().toISOString());
    await unavailableOnRedisError(async () => {
      await store.putMonitor(record);
      await scheduler.upsert(record, current);
    });
    const [status, nextTickMs] = await unavailableOnRedisError(() =>
      Promise.all([store.getStatus(record.id), scheduler.nextTickMs(record)]),
    );
    response.json(outputOf(record, status.version > 0 ? status : undefined, nextTickMs));
  });

  router.delete('/:id', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    const monitor = await findMonitor(store, request);
    await unavailableOnRedisError(async () => {
      await scheduler.remove(monitor);
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

async function findMonitor(store: MonitorStore, request: Request): Promise<MonitorRecord> {
  const id = String(request.params.id);
  const notFound = new HttpProblem(404, 'notFound', `no monitor with id ${id}`, { field: 'id' });
  if (!monitorIdSchema.safeParse(id).success) throw notFound;
  const monitor = await unavailableOnRedisError(() => store.getMonitor(id));
  if (!monitor) throw notFound;
  return monitor;
}

export function refuseUnsafe(input: MonitorInput, policy: AddressPolicy): void {
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

export function recordOf(
  id: string,
  input: MonitorInput,
  createdAt: string,
  updatedAt: string,
): MonitorRecord {
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
    // An empty expect ({}, or every list empty) checks nothing: a PATCH with it removes the checks.
    ...(input.expect && hasChecks(input.expect) ? { expect: input.expect } : {}),
    tags: input.tags ?? [],
    ...(input.group !== undefined ? { group: input.group } : {}),
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

function hasChecks(expect: NonNullable<MonitorInput['expect']>): boolean {
  return Object.values(expect).some(
    (value) => value !== undefined && (!Array.isArray(value) || value.length > 0),
  );
}

function inputOf(record: MonitorRecord): MonitorInput {
  const { id: _id, createdAt: _created, updatedAt: _updated, ...input } = record;
  return input;
}

function outputOf(
  record: MonitorRecord,
  status: MonitorStatus | undefined,
  nextTickMs: number | undefined,
): MonitorOutput {
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
    nextRunAt: nextTickMs === undefined ? null : new Date(nextTickMs).toISOString(),
    links: { self: `/monitors/${record.id}`, history: `/monitors/${record.id}/history` },
  };
}
