// Webhook alerts: the payload of a state change, its HMAC-SHA256 signature, and delivery with retries.
import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { JobsOptions, Queue } from 'bullmq';
import { z } from 'zod';
import { httpUrlSchema } from '../../requests/schemas.js';
import type { AddressPolicy } from '../../safety/address-policy.js';
import type { MonitorRecord, VantageOutcome } from '../records.js';
import type { StateChange } from '../state-machine.js';
import { retryAfterMsOf } from './channel.js';
import { destinationOf } from './delivery-lanes.js';
import { isRefusedByPolicy, policyLookup } from './destination-policy.js';

// CommonJS, loaded with require rather than import: no export lexing at start-up (docs/architecture.md).
const { Agent, request } = createRequire(import.meta.url)('undici') as typeof import('undici');

export const alertJobName = 'webhook';
/** A job for one configured channel (see channel-settings.ts): its settings are read at delivery. */
export const channelJobName = 'channel';
export const signatureHeader = 'x-reach-signature';

export function alertQueueName(baseQueueName: string): string {
  return `${baseQueueName}-alerts`;
}

/** A state change, a certificate about to expire, or a test message sent with POST /channels/:id/test. */
export const alertEvents = [
  'monitor.state_changed',
  'certificate.expiring',
  'channel.test',
  /** One incident for one cause (a shared incident): `monitor` names the group, `shared` says what it covers. */
  'shared_incident.opened',
  'shared_incident.resolved',
] as const;

export interface AlertPayload {
  event: (typeof alertEvents)[number];
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
  /** For certificate.expiring: when the certificate expires, how many whole days are left, the threshold crossed. */
  certificate?: { notAfter: string; daysLeft: number; thresholdDays: number };
  /** For shared_incident.*: the cause many monitors share, where it was seen, since when, and who it covers. */
  shared?: SharedAlertFacts;
}

export interface SharedAlertFacts {
  kind: string;
  vantage: string;
  resolvers?: string[];
  range?: string;
  openedAt: string;
  resolvedAt?: string;
  /** Monitors that were part of it (all of them), and the first few by name. */
  monitorCount: number;
  monitors: Array<{ id: string; name: string; url: string }>;
}

/** Which configured webhook a job is for; the secret is looked up at delivery so it never sits in job data. */
export type WebhookRef =
  | { scope: 'global'; index: number; url: string }
  | { scope: 'monitor'; monitorId: string; index: number; url: string };

export interface WebhookJobData {
  webhook: WebhookRef;
  payload: AlertPayload;
  /** Held for a shared incident to open (shared-cause/): dropped at delivery if one explains the monitor now. */
  isHeld?: boolean;
}

/** Only the channel's id: its settings, secrets included, stay in the channel store. */
export interface ChannelJobData {
  channelId: string;
  payload: AlertPayload;
  isHeld?: boolean;
}

export type AlertJobData = WebhookJobData | ChannelJobData;

export type AlertQueue = Queue<AlertJobData, unknown, string>;

/** Monitors named in a shared incident's message; the count says how many there are in all. */
export const sharedMonitorsListed = 20;

const alertPayloadSchema = z.strictObject({
  event: z.enum(alertEvents),
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
  certificate: z
    .strictObject({
      notAfter: z.string().max(40),
      daysLeft: z.number().int().min(-100_000).max(100_000),
      thresholdDays: z.number().int().min(1).max(365),
    })
    .optional(),
  shared: z
    .strictObject({
      kind: z.string().max(20),
      vantage: z.string().max(100),
      resolvers: z.array(z.string().max(100)).max(16).optional(),
      range: z.string().max(100).optional(),
      openedAt: z.string().max(40),
      resolvedAt: z.string().max(40).optional(),
      monitorCount: z.number().int().min(0),
      monitors: z
        .array(
          z.strictObject({ id: z.string().max(100), name: z.string().max(200), url: z.string().max(2048) }),
        )
        .max(sharedMonitorsListed),
    })
    .optional(),
});

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
  payload: alertPayloadSchema,
  isHeld: z.boolean().optional(),
});

/** What a channel job may carry. */
export const channelJobSchema = z.strictObject({
  channelId: z.uuid(),
  payload: alertPayloadSchema,
  isHeld: z.boolean().optional(),
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
    ...aboutMonitor(monitor, base),
    oldState: change.from,
    newState: change.to,
    changedAt: new Date(change.atMs).toISOString(),
    cause: verdict.cause,
    code: verdict.code,
    summary: verdict.summary,
    incident: options.incidentId
      ? { id: options.incidentId, url: `${base}/status#incident-${options.incidentId}` }
      : null,
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

/** The backoff of alert jobs: the worker's strategy waits what the receiver's Retry-After asked, else doubles. */
export const alertBackoffType = 'alert';

export function alertJobOptions(settings: { attempts: number; backoffMs: number }): JobsOptions {
  return {
    attempts: settings.attempts,
    backoff: { type: alertBackoffType, delay: settings.backoffMs },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 5000 },
  };
}

/**
 * One job per webhook and per channel. With `jobIdPrefix` each job's id is `<prefix>-<scope>-<index>` or
 * `<prefix>-channel-<id>`, so queueing the same alert again (a consequence applied twice) adds nothing while the
 * first jobs are kept.
 */
export async function enqueueAlerts(
  queue: AlertQueue,
  targets: { webhooks: WebhookRef[]; channelIds: readonly string[] },
  payload: AlertPayload,
  options: JobsOptions,
  jobIdPrefix?: string,
  isHeld = false,
): Promise<void> {
  const held = isHeld ? { isHeld: true } : {};
  const withId = (suffix: string): JobsOptions =>
    jobIdPrefix ? { ...options, jobId: `${jobIdPrefix}-${suffix}` } : options;
  const jobs = [
    ...targets.webhooks.map((webhook) => ({
      name: alertJobName,
      data: { webhook, payload, ...held } as AlertJobData,
      opts: withId(`${webhook.scope}-${webhook.index}`),
    })),
    ...targets.channelIds.map((channelId) => ({
      name: channelJobName,
      data: { channelId, payload, ...held } as AlertJobData,
      opts: withId(`channel-${channelId}`),
    })),
  ];
  if (jobs.length > 0) await queue.addBulk(jobs);
}

/** Thrown for a delivery that failed and may succeed later (BullMQ retries it with backoff). */
export class DeliveryError extends Error {
  override name = 'DeliveryError';
  /** How long the receiver asked us to wait (Retry-After), when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/** The wait before retry `attemptsMade` + 1: the receiver's Retry-After when it gave one, else doubling. */
export function alertBackoffMs(attemptsMade: number, backoffMs: number, error: unknown): number {
  if (error instanceof DeliveryError && error.retryAfterMs !== undefined) return error.retryAfterMs;
  return Math.round(2 ** Math.max(0, attemptsMade - 1) * backoffMs);
}

/** The address policy refuses the webhook's address: final, never retried. */
export class WebhookRefusedError extends DeliveryError {
  override name = 'WebhookRefusedError';
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
        throw new DeliveryError(
          `webhook to ${destination} answered ${response.statusCode}`,
          retryAfterMsOf(response.headers['retry-after']),
        );
      }
      return { status: response.statusCode };
    },
    close: () => agent.close(),
  };
}

/** The alert for a certificate about to expire: its own event, sent while the monitor's state stays what it is. */
export function buildCertificatePayload(options: {
  monitor: MonitorRecord;
  state: string;
  atMs: number;
  warning: { notAfter: string; daysLeft: number; thresholdDays: number };
  publicBaseUrl: string | undefined;
}): AlertPayload {
  const base = options.publicBaseUrl ?? '';
  const { monitor, warning } = options;
  const host = hostOf(monitor.url);
  const left =
    warning.daysLeft < 0
      ? 'has expired'
      : `expires in ${warning.daysLeft} day${warning.daysLeft === 1 ? '' : 's'}`;
  return {
    event: 'certificate.expiring',
    id: randomUUID(),
    ...aboutMonitor(monitor, base),
    oldState: options.state,
    newState: options.state,
    changedAt: new Date(options.atMs).toISOString(),
    cause: 'certificate_expiring',
    code: 'tls.certificate_expiring',
    summary: `The TLS certificate of ${host} ${left} (notAfter ${warning.notAfter}); renew it before it does.`,
    incident: null,
    certificate: warning,
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** Which monitor a payload is about, and the links to it and to the status page. */
function aboutMonitor(monitor: MonitorRecord, base: string): Pick<AlertPayload, 'monitor' | 'links'> {
  return {
    monitor: { id: monitor.id, name: monitor.name, url: monitor.url, tags: monitor.tags },
    links: { monitor: `${base}/monitors/${monitor.id}`, status: `${base}/status` },
  };
}
