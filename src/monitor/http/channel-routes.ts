// The channel API (/channels, admin key): notification channels created, listed, changed, deleted and tested.
// Secrets are written, never read back: every answer shows them masked.
import { randomUUID } from 'node:crypto';
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import {
  fieldErrorsOf,
  HttpProblem,
  invalidRequest,
  unavailableOnRedisError,
} from '../../requests/problems.js';
import type { AddressPolicy } from '../../safety/address-policy.js';
import type { AlertPayload } from '../alerting/alerts.js';
import {
  type ChannelRecord,
  type ChannelType,
  channelInputSchema,
  channelName,
  channelSettingsSchemas,
  channelTypes,
  maskedSettings,
} from '../alerting/channel-settings.js';
import type { ChannelStore } from '../alerting/channel-store.js';
import { destinationRefusalOf } from '../alerting/destination-policy.js';
import type { ChannelSenders } from '../alerting/senders.js';
import type { MonitorStore } from '../store.js';
import { requireEmptyQuery, requireJson } from './request-checks.js';

export interface ChannelApiDeps {
  channels: ChannelStore;
  store: MonitorStore;
  senders: ChannelSenders;
  /** The policy channel destinations are held to (ALERT_ALLOW_PRIVATE_DESTINATIONS). */
  channelPolicy: AddressPolicy;
  publicBaseUrl: string | undefined;
  /** Ids of the channels CHANNELS_FILE configures: shown, tested and used, never changed through the API. */
  configuredChannelIds: ReadonlySet<string>;
}

export const channelPatchSchema = z
  .strictObject({
    name: channelName.optional(),
    settings: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Merged into the stored settings: a field left out (a secret, say) keeps its value.'),
  })
  .refine((patch) => Object.keys(patch).length > 0, { message: 'send at least one field' })
  .meta({ id: 'ChannelPatch' });

export const channelOutputSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    type: z.enum(channelTypes),
    settings: z.record(z.string(), z.unknown()).describe('Secret fields masked (****).'),
    origin: z
      .enum(['api', 'configuration'])
      .describe('configuration: from CHANNELS_FILE; PATCH and DELETE answer 409 while the file names it.'),
    createdAt: z.string(),
    updatedAt: z.string(),
    links: z.object({ self: z.string(), test: z.string() }),
  })
  .meta({ id: 'Channel' });

export const channelTestOutputSchema = z
  .object({
    outcome: z.literal('delivered'),
    status: z.number().int().describe('HTTP status, or 250 for SMTP.'),
  })
  .meta({ id: 'ChannelTestResult' });

export function createChannelRouter(deps: ChannelApiDeps): Router {
  const { channels } = deps;
  const router = Router();

  router.post('/', async (request: Request, response: Response) => {
    requireJson(request);
    requireEmptyQuery(request);
    const body = channelInputSchema.safeParse(request.body);
    if (!body.success) throw invalidRequest(fieldErrorsOf(body.error));
    const input = body.data as { name: string; type: ChannelType; settings: ChannelRecord['settings'] };
    const now = new Date().toISOString();
    const record: ChannelRecord = { id: randomUUID(), ...input, createdAt: now, updatedAt: now };
    refuseUnsafe(record, deps.channelPolicy);
    await unavailableOnRedisError(() => channels.put(record));
    response.status(201).setHeader('Location', `/channels/${record.id}`);
    response.json(outputOf(record));
  });

  router.get('/', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    const all = await unavailableOnRedisError(() => channels.list());
    response.json({ channels: all.map(outputOf) });
  });

  router.get('/:id', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    response.json(outputOf(await findChannel(channels, request)));
  });

  router.patch('/:id', async (request: Request, response: Response) => {
    requireJson(request);
    requireEmptyQuery(request);
    const patch = channelPatchSchema.safeParse(request.body);
    if (!patch.success) throw invalidRequest(fieldErrorsOf(patch.error));
    const current = await findChannel(channels, request);
    refuseConfigured(current, deps.configuredChannelIds, 'changed');
    const settings = channelSettingsSchemas[current.type].safeParse({
      ...current.settings,
      ...patch.data.settings,
    });
    if (!settings.success) throw invalidRequest(fieldErrorsOf(settings.error).map(underSettings));
    const record: ChannelRecord = {
      ...current,
      name: patch.data.name ?? current.name,
      settings: settings.data,
      updatedAt: new Date().toISOString(),
    };
    refuseUnsafe(record, deps.channelPolicy);
    await unavailableOnRedisError(() => channels.put(record));
    response.json(outputOf(record));
  });

  router.delete('/:id', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    const channel = await findChannel(channels, request);
    refuseConfigured(channel, deps.configuredChannelIds, 'deleted');
    const monitors = await unavailableOnRedisError(() => deps.store.listMonitors());
    const users = monitors
      .filter((monitor) => monitor.channels?.includes(channel.id))
      .map((monitor) => monitor.id);
    if (users.length > 0) {
      throw new HttpProblem(
        409,
        'conflict',
        `${users.length} monitor(s) still send to this channel; remove it from them first`,
        { monitors: users.slice(0, 20) },
      );
    }
    await unavailableOnRedisError(() => channels.delete(channel.id));
    response.status(204).end();
  });

  router.post('/:id/test', async (request: Request, response: Response) => {
    requireEmptyQuery(request);
    const channel = await findChannel(channels, request);
    refuseUnsafe(channel, deps.channelPolicy);
    const outcome = await deps.senders.senderFor(channel).send(testPayload(channel, deps.publicBaseUrl));
    if (outcome.kind === 'delivered') {
      response.json({ outcome: 'delivered', status: outcome.status });
      return;
    }
    if (outcome.kind === 'refused') {
      throw new HttpProblem(422, 'targetRefused', outcome.reason, { field: 'settings' });
    }
    throw new HttpProblem(502, 'deliveryFailed', outcome.reason, {
      outcome: outcome.kind,
      ...(outcome.kind === 'retry' && outcome.retryAfterMs !== undefined
        ? { retryAfterSeconds: outcome.retryAfterMs / 1000 }
        : {}),
    });
  });

  return router;
}

/** The ids given that name no channel, as a 422 problem: a monitor cannot send to a channel that is not there. */
export async function refuseUnknownChannels(channels: ChannelStore, ids: readonly string[] | undefined) {
  const missing = await unavailableOnRedisError(() => channels.missing(ids ?? []));
  const problem = unknownChannelsProblem(ids, new Set(missing));
  if (problem) throw problem;
}

/** The 422 for a monitor naming channels that do not exist (`missing`: ids known to name none). */
export function unknownChannelsProblem(
  ids: readonly string[] | undefined,
  missing: ReadonlySet<string>,
): HttpProblem | undefined {
  const unknown = (ids ?? []).filter((id) => missing.has(id));
  if (unknown.length === 0) return undefined;
  return new HttpProblem(422, 'invalidRequest', `no channel with id ${unknown.join(', ')}`, {
    errors: unknown.map((id) => ({
      field: `channels.${(ids ?? []).indexOf(id)}`,
      message: `no channel ${id}`,
    })),
  });
}

/** A channel the running configuration names is the file's: the API changing it would be undone at next start. */
function refuseConfigured(record: ChannelRecord, configured: ReadonlySet<string>, what: string): void {
  if (record.origin !== 'configuration' || !configured.has(record.id)) return;
  throw new HttpProblem(
    409,
    'conflict',
    `channel ${record.id} comes from CHANNELS_FILE and cannot be ${what} through the API; edit the file and restart`,
    { origin: 'configuration' },
  );
}

function underSettings(error: { field: string; message: string }) {
  return { field: `settings.${error.field}`, message: error.message };
}

async function findChannel(channels: ChannelStore, request: Request): Promise<ChannelRecord> {
  const id = String(request.params.id);
  const notFound = new HttpProblem(404, 'notFound', `no channel with id ${id}`, { field: 'id' });
  if (!z.uuid().safeParse(id).success) throw notFound;
  const channel = await unavailableOnRedisError(() => channels.get(id));
  if (!channel) throw notFound;
  return channel;
}

/** The channel's destination, held to the address policy like a webhook's: refused with 422. */
function refuseUnsafe(record: ChannelRecord, policy: AddressPolicy): void {
  const refusal = destinationRefusalOf(record, policy, 'settings');
  if (refusal) {
    throw new HttpProblem(
      422,
      'targetRefused',
      `${record.type} destination refused: ${refusal.address} is not allowed`,
      {
        errors: [{ field: 'settings', message: `${refusal.address} is not allowed` }],
      },
    );
  }
}

function outputOf(record: ChannelRecord) {
  return {
    id: record.id,
    name: record.name,
    type: record.type,
    settings: maskedSettings(record),
    origin: record.origin ?? 'api',
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    links: { self: `/channels/${record.id}`, test: `/channels/${record.id}/test` },
  };
}

/** A message that looks like a real alert, says it is a test, and links to the status page. */
function testPayload(channel: ChannelRecord, publicBaseUrl: string | undefined): AlertPayload {
  const base = publicBaseUrl ?? '';
  return {
    event: 'channel.test',
    id: randomUUID(),
    monitor: { id: channel.id, name: channel.name, url: `${base}/status`, tags: [] },
    oldState: 'up',
    newState: 'up',
    changedAt: new Date().toISOString(),
    cause: 'test',
    code: 'channel.test',
    summary: `This is a test of the ${channel.type} channel "${channel.name}": alerts will arrive like this.`,
    incident: null,
    links: { monitor: `${base}/status`, status: `${base}/status` },
  };
}
