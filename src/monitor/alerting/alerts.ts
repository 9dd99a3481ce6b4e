// Webhook alerts: the payload of a state change, its HMAC-SHA256 signature, and delivery with retries.
import { createHmac, randomUUID } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import type { JobsOptions, Queue } from 'bullmq';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { httpUrlSchema } from '../../requests/schemas.js';
import type { AddressPolicy } from '../../safety/address-policy.js';
import type { MonitorRecord, VantageOutcome } from '../records.js';
import type { StateChange } from '../state-machine.js';
import { destinationOf } from './delivery-lanes.js';

export const alertJobName = 'webhook';
export const signatureHeader = 'x-reach-signature';

export function alertQueueName(baseQueueName: string): string {
  return `${baseQueueName}-alerts`;
}

export interface AlertPayload {
  event: 'monitor.state_changed';
  id: string;
  monitor: { id: string; name: string; url: string; tags: string[] };
  oldState: string;
  newState: string;
  changedAt: string;
  cause: string;
  code: string;
  summary: string;
  incident: { id: string; url: string } | null;
  links: { monitor: string; status: string };
  /** For a monitor with vantages: which vantages saw what in the run that changed the state. */
  vantages?: Array<{ name: string; status: string; health?: string; code?: string }>;
}

/** Which configured webhook a job is for; the secret is looked up at delivery so it never sits in job data. */
export type WebhookRef =
  | { scope: 'global'; index: number; url: string }
  | { scope: 'monitor'; monitorId: string; index: number; url: string };

export interface AlertJobData {
  webhook: WebhookRef;
  payload: AlertPayload;
}

export type AlertQueue = Queue<AlertJobData, unknown, string>;

/** What a webhook job may carry: checked by the worker before it sends anything, like every other job. */
export const alertJobSchema = z.strictObject({
  webhook: z.discriminatedUnion('scope', [
    z.strictObject({ scope: z.literal('global'), index: z.number().int().min(0), url: httpUrlSchema }),
    z.strictObject({
      scope: z.literal('monitor'),
      monitorId: z.string().min(1).max(100),
      index: z.number().int().min(0),
      url: httpUrlSchema,
    }),
  ]),
  payload: z.strictObject({
    event: z.literal('monitor.state_changed'),
    id: z.string().min(1).max(100),
    monitor: z.strictObject({
      id: z.string().max(100),
      name: z.string().max(200),
      url: z.string().max(2048),
      tags: z.array(z.string().max(100)).max(100),
    }),
    oldState: z.string().max(40),
    newState: z.string().max(40),
    changedAt: z.string().max(40),
    cause: z.string().max(100),
    code: z.string().max(100),
    summary: z.string().max(4096),
    incident: z.strictObject({ id: z.string().max(100), url: z.string().max(2048) }).nullable(),
    links: z.strictObject({ monitor: z.string().max(2048), status: z.string().max(2048) }),
    vantages: z
      .array(
        z.strictObject({
          name: z.string().max(40),
          status: z.string().max(20),
          health: z.string().max(20).optional(),
          code: z.string().max(100).optional(),
        }),
      )
      .max(32)
      .optional(),
  }),
});

export function buildAlertPayload(options: {
  monitor: MonitorRecord;
  change: StateChange;
  verdict: { cause: string; code: string; summary: string };
  incidentId: string | undefined;
  publicBaseUrl: string | undefined;
  vantages?: VantageOutcome[] | undefined;
}): AlertPayload {
  const base = options.publicBaseUrl ?? '';
  const { monitor, change, verdict } = options;
  return {
    event: 'monitor.state_changed',
    id: randomUUID(),
    monitor: { id: monitor.id, name: monitor.name, url: monitor.url, tags: monitor.tags },
    oldState: change.from,
    newState: change.to,
    changedAt: new Date(change.atMs).toISOString(),
    cause: verdict.cause,
    code: verdict.code,
    summary: verdict.summary,
    incident: options.incidentId
      ? { id: options.incidentId, url: `${base}/status#incident-${options.incidentId}` }
      : null,
    links: { monitor: `${base}/monitors/${monitor.id}`, status: `${base}/status` },
    ...(options.vantages
      ? {
          vantages: options.vantages.map((vantage) => ({
            name: vantage.name,
            status: vantage.status,
            ...(vantage.health ? { health: vantage.health } : {}),
            ...(vantage.code ? { code: vantage.code } : {}),
          })),
        }
      : {}),
  };
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp is signed so a receiver can refuse replays. */
export function signPayload(secret: string, body: string, timestampSeconds: number): string {
  const digest = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${digest}`;
}

export function webhooksFor(
  monitor: MonitorRecord,
  globalWebhooks: Array<{ url: string; secret: string }>,
): WebhookRef[] {
  return [
    ...globalWebhooks.map((webhook, index) => ({ scope: 'global' as const, index, url: webhook.url })),
    ...monitor.webhooks.map((webhook, index) => ({
      scope: 'monitor' as const,
      monitorId: monitor.id,
      index,
      url: webhook.url,
    })),
  ];
}

export function alertJobOptions(settings: { attempts: number; backoffMs: number }): JobsOptions {
  return {
    attempts: settings.attempts,
    backoff: { type: 'exponential', delay: settings.backoffMs },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  };
}

/**
 * One job per webhook. With `jobIdPrefix` each job's id is `<prefix>-<scope>-<index>`, so queueing the same alert
 * again (a consequence applied twice) adds nothing while the first jobs are kept.
 */
export async function enqueueAlerts(
  queue: AlertQueue,
  webhooks: WebhookRef[],
  payload: AlertPayload,
  options: JobsOptions,
  jobIdPrefix?: string,
): Promise<void> {
  if (webhooks.length === 0) return;
  await queue.addBulk(
    webhooks.map((webhook) => ({
      name: alertJobName,
      data: { webhook, payload },
      opts: jobIdPrefix ? { ...options, jobId: `${jobIdPrefix}-${webhook.scope}-${webhook.index}` } : options,
    })),
  );
}

/** Thrown for a delivery that failed and may succeed later (BullMQ retries it with backoff). */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
}

/** The address policy refuses the webhook's address: final, never retried. */
export class WebhookRefusedError extends DeliveryError {
  override name = 'WebhookRefusedError';
}

const refusedByPolicyCode = 'EREFUSEDBYPOLICY';

function isRefusedByPolicy(error: unknown): boolean {
  for (
    let current = error as { code?: unknown; cause?: unknown } | undefined, depth = 0;
    current && depth < 4;
    depth += 1
  ) {
    if (current.code === refusedByPolicyCode) return true;
    current = current.cause as typeof current;
  }
  return false;
}

/** The connection's DNS lookup, refusing addresses the policy refuses, so a webhook cannot reach inside. */
function policyLookup(policy: AddressPolicy) {
  return (
    hostname: string,
    options: { all?: boolean; family?: number },
    callback: (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void,
  ) => {
    dnsLookup(
      hostname,
      { all: true, ...(options.family ? { family: options.family } : {}) },
      (error, addresses) => {
        if (error) {
          callback(error, '', 0);
          return;
        }
        const allowed = addresses.filter((entry) => policy(entry.address) === undefined);
        if (allowed.length === 0) {
          const reason = addresses[0] ? policy(addresses[0].address) : 'no address';
          callback(
            Object.assign(new Error(`webhook address refused: ${reason}`), { code: refusedByPolicyCode }),
            '',
            0,
          );
          return;
        }
        const [first] = allowed;
        if (options.all || !first) callback(null, allowed);
        else callback(null, first.address, first.family);
      },
    );
  };
}

export interface WebhookDelivery {
  deliver(
    url: string,
    secret: string,
    payload: AlertPayload,
    deliveryId: string,
  ): Promise<{ status: number }>;
  close(): Promise<void>;
}

export function createWebhookDelivery(options: {
  policy: AddressPolicy;
  timeoutMs: number;
}): WebhookDelivery {
  const agent = new Agent({
    connect: { lookup: policyLookup(options.policy) as never, timeout: options.timeoutMs },
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });
  return {
    async deliver(url, secret, payload, deliveryId) {
      // Errors name the destination only: a webhook's path and query often carry its token.
      const destination = destinationOf(url);
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0) {
        const reason = options.policy(host);
        if (reason) throw new WebhookRefusedError(`webhook address ${host} refused: ${reason}`);
      }
      const body = JSON.stringify(payload);
      const signature = signPayload(secret, body, Math.floor(Date.now() / 1000));
      let response: Awaited<ReturnType<typeof request>>;
      try {
        response = await request(url, {
          method: 'POST',
          dispatcher: agent,
          body,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'reach-monitor',
            [signatureHeader]: signature,
            'x-reach-event': payload.event,
            'x-reach-delivery': deliveryId,
          },
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        if (isRefusedByPolicy(error)) {
          throw new WebhookRefusedError(`webhook to ${destination} refused: ${(error as Error).message}`);
        }
        throw new DeliveryError(`webhook to ${destination} failed: ${(error as Error).message}`);
      }
      await response.body.dump();
      if (response.statusCode < 200 || response.statusCode >= 300) {
        throw new DeliveryError(`webhook to ${destination} answered ${response.statusCode}`);
      }
      return { status: response.statusCode };
    },
    close: () => agent.close(),
  };
}
