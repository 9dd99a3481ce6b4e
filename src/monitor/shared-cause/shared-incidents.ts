// One incident for one cause: what a monitor run does to the shared incidents (observe, group, join or open or
// leave), and the messages they send: one "opened" and one "resolved" per destination, from the outbox.
import { createHash, randomUUID } from 'node:crypto';
import {
  type AlertJobData,
  type AlertPayload,
  type AlertQueue,
  alertJobName,
  alertJobOptions,
  channelJobName,
  sharedMonitorsListed,
  type WebhookRef,
} from '../alerting/alerts.js';
import type { MonitorConfig } from '../config.js';
import type { MonitorRecord } from '../records.js';
import type { RunResult } from '../run-result.js';
import type { SharedRunOutcome } from '../state-machine.js';
import type { Incident, MonitorStore } from '../store.js';
import { describeSharedCause } from './candidates.js';
import { groupRun, thresholdOf } from './grouping.js';
import type { SharedStore, TargetRef } from './shared-store.js';

export interface SharedIncidentsDeps {
  shared: SharedStore;
  store: MonitorStore;
  alertQueue: AlertQueue;
  config: MonitorConfig;
}

export interface SharedObservation {
  outcome?: SharedRunOutcome;
  /** Hold the site's own failure alert: its cause is prober-side and no shared incident explains it yet. */
  isHeld: boolean;
}

/** Observe, group and apply may race another worker's run: each retry reads the window again. */
const maxAttempts = 5;

/** Groups one run with the others of its window; a failure of Redis is thrown, like the store's. */
export async function observeRun(
  deps: SharedIncidentsDeps,
  monitor: MonitorRecord,
  result: RunResult,
  isMaintenance: boolean,
): Promise<SharedObservation> {
  const settings = deps.config.shared;
  if (!settings.isEnabled) return { isHeld: false };
  const isFailing = !isMaintenance && result.entry.health !== 'up';
  const candidates = isFailing ? (result.sharedCauses ?? []) : [];
  let left: string | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    const nowMs = Date.now();
    const state = await deps.shared.observe(monitor.id, candidates, nowMs, settings.windowMs);
    const decision = groupRun(candidates, state, settings);
    if (decision.leave && state.membership) {
      await deps.shared.leave(monitor.id, state.membership, nowMs);
      left = state.membership.incidentId;
    }
    const leftOutcome: SharedObservation = {
      ...(left ? { outcome: { kind: 'left', incidentId: left } } : {}),
      isHeld: decision.isHeld,
    };
    const explained = decision.explainedBy;
    if (!explained) return leftOutcome;
    if (explained.kind === 'stay') {
      await notifyTargetsOf(deps, explained.incidentId, [monitor]);
      return { outcome: { kind: 'explained', incidentId: explained.incidentId }, isHeld: false };
    }
    if (explained.kind === 'join') {
      const joined = await deps.shared.joinOpen(
        monitor.id,
        explained.incidentId,
        explained.candidate.key,
        nowMs,
      );
      if (joined === 'taken') continue; // Resolved meanwhile: read the window again.
      await notifyTargetsOf(deps, explained.incidentId, [monitor]);
      return { outcome: { kind: 'explained', incidentId: explained.incidentId }, isHeld: false };
    }
    const id = randomUUID();
    const joined = await deps.shared.open(
      monitor.id,
      {
        id,
        openedAtMs: nowMs,
        candidate: explained.candidate,
        name: describeSharedCause(explained.candidate),
        summary: result.summary,
      },
      thresholdOf(explained.candidate.kind, state.monitorCount, settings),
    );
    if (joined === 'taken') continue; // Another run opened one for the cause: join it on the next reading.
    // Most of the failures are explained by other shared incidents already: this one is alone.
    if (joined === 'tooFew')
      return { ...leftOutcome, isHeld: candidates.some((candidate) => candidate.isProberSide) };
    await foldMembers(
      deps,
      id,
      joined.filter((memberId) => memberId !== monitor.id),
      nowMs,
    );
    const records = await deps.store.monitorsById(joined);
    await notifyTargetsOf(deps, id, records);
    return { outcome: { kind: 'explained', incidentId: id }, isHeld: false };
  }
  throw new Error(`monitor ${monitor.id}: the shared incidents kept changing while its run was grouped`);
}

/** The members that failed before the incident opened may have opened incidents of their own: fold them in. */
async function foldMembers(
  deps: SharedIncidentsDeps,
  incidentId: string,
  memberIds: string[],
  nowMs: number,
) {
  if (memberIds.length === 0) return;
  const statuses = await deps.store.statusesOf(memberIds);
  for (const status of statuses) {
    if (status?.openIncidentId) await deps.store.foldIncident(status.openIncidentId, incidentId, nowMs);
  }
}

/**
 * After a run that opened the monitor's own incident: a shared incident that opened meanwhile may have made the
 * monitor a member without seeing that incident yet (it read the state before this run wrote it). Fold it now.
 */
export async function foldIfJoined(deps: SharedIncidentsDeps, monitorId: string, incidentId: string) {
  const membership = await deps.shared.membershipOf(monitorId);
  if (membership) await deps.store.foldIncident(incidentId, membership.incidentId, Date.now());
}

/** Each destination of these monitors (channels, their webhooks, the global webhooks), named once. */
export function targetsOf(monitors: MonitorRecord[], config: MonitorConfig): Map<string, TargetRef> {
  const targets = new Map<string, TargetRef>();
  config.alerts.globalWebhooks.forEach((_, index) => {
    targets.set(`g-${index}`, { globalIndex: index });
  });
  for (const monitor of monitors) {
    for (const channelId of monitor.channels ?? []) targets.set(`c-${channelId}`, { channelId });
    monitor.webhooks.forEach((webhook, index) => {
      const name = `w-${createHash('sha256').update(webhook.url).digest('hex').slice(0, 24)}`;
      if (!targets.has(name)) targets.set(name, { monitorId: monitor.id, index });
    });
  }
  return targets;
}

async function notifyTargetsOf(deps: SharedIncidentsDeps, incidentId: string, monitors: MonitorRecord[]) {
  await deps.shared.notify(incidentId, targetsOf(monitors, deps.config));
}

/**
 * Sends what the outbox holds (this run's messages, or those a worker that died left) and clears each entry once
 * queued. Job ids are fixed per incident, event and destination, so two workers sending at once queue one job.
 */
export async function sendSharedMessages(deps: SharedIncidentsDeps): Promise<number> {
  const entries = await deps.shared.outbox();
  if (entries.length === 0) return 0;
  const payloads = new Map<string, AlertPayload | undefined>();
  const jobs: Array<{ name: string; data: AlertJobData; opts: ReturnType<typeof alertJobOptions> }> = [];
  for (const entry of entries) {
    const payloadKey = `${entry.incidentId}|${entry.event}`;
    if (!payloads.has(payloadKey)) {
      const incident = await deps.store.getIncident(entry.incidentId);
      payloads.set(payloadKey, incident ? await sharedPayloadOf(deps, incident, entry.event) : undefined);
    }
    const payload = payloads.get(payloadKey);
    if (!payload) continue;
    const opts = {
      ...alertJobOptions(deps.config.alerts),
      jobId: `shared-${entry.incidentId}-${entry.event}-${entry.target}`,
    };
    const ref = entry.ref;
    if ('channelId' in ref) {
      jobs.push({ name: channelJobName, data: { channelId: ref.channelId, payload }, opts });
      continue;
    }
    const webhook = await webhookRefOf(deps, ref);
    if (webhook) jobs.push({ name: alertJobName, data: { webhook, payload }, opts });
  }
  if (jobs.length > 0) await deps.alertQueue.addBulk(jobs);
  await deps.shared.clearOutbox(entries.map((entry) => entry.field));
  return jobs.length;
}

async function webhookRefOf(
  deps: SharedIncidentsDeps,
  ref: Exclude<TargetRef, { channelId: string }>,
): Promise<WebhookRef | undefined> {
  if ('globalIndex' in ref) {
    const configured = deps.config.alerts.globalWebhooks[ref.globalIndex];
    return configured ? { scope: 'global', index: ref.globalIndex, url: configured.url } : undefined;
  }
  const monitor = await deps.store.getMonitor(ref.monitorId);
  const configured = monitor?.webhooks[ref.index];
  return configured
    ? { scope: 'monitor', monitorId: ref.monitorId, index: ref.index, url: configured.url }
    : undefined;
}

async function sharedPayloadOf(
  deps: SharedIncidentsDeps,
  incident: Incident,
  event: 'opened' | 'resolved',
): Promise<AlertPayload | undefined> {
  const shared = incident.shared;
  if (!shared) return undefined;
  const base = deps.config.publicBaseUrl ?? '';
  const named = await deps.store.monitorsById(shared.monitorIds.slice(0, sharedMonitorsListed));
  const isResolved = event === 'resolved' && incident.resolvedAtMs !== undefined;
  const url = `${base}/status#incident-${incident.id}`;
  return {
    event: isResolved ? 'shared_incident.resolved' : 'shared_incident.opened',
    id: `${incident.id}-${event}`,
    monitor: { id: incident.id, name: incident.monitorName, url, tags: [] },
    oldState: isResolved ? 'down' : 'up',
    newState: isResolved ? 'up' : 'down',
    changedAt: new Date(isResolved ? (incident.resolvedAtMs ?? 0) : incident.openedAtMs).toISOString(),
    cause: incident.cause,
    code: incident.code,
    summary: isResolved
      ? `The shared cause has cleared: every monitor it explained works again or fails for a reason of its own. ${incident.summary}`
      : incident.summary,
    incident: { id: incident.id, url },
    links: { monitor: `${base}/incidents/${incident.id}`, status: `${base}/status` },
    shared: {
      kind: shared.kind,
      vantage: shared.vantage,
      ...(shared.resolvers ? { resolvers: shared.resolvers } : {}),
      ...(shared.range ? { range: shared.range } : {}),
      openedAt: new Date(incident.openedAtMs).toISOString(),
      ...(isResolved ? { resolvedAt: new Date(incident.resolvedAtMs ?? 0).toISOString() } : {}),
      monitorCount: shared.monitorIds.length,
      monitors: named.map((monitor) => ({ id: monitor.id, name: monitor.name, url: monitor.url })),
    },
  };
}

/** For the alert worker: a held alert of this monitor is dropped once a shared incident speaks for it. */
export async function isExplainedByShared(
  deps: Pick<SharedIncidentsDeps, 'shared' | 'store'>,
  monitorId: string,
  incidentId: string | undefined,
): Promise<boolean> {
  if (await deps.shared.membershipOf(monitorId)) return true;
  if (!incidentId) return false;
  const incident = await deps.store.getIncident(incidentId);
  return incident?.mergedInto !== undefined;
}
