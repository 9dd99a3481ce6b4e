// What a state change sets off: an incident opened, updated or resolved, alerts (webhooks, channels), a re-check. They are written
// with the new state in one atomic step (the store's compare-and-set) and applied after it, so a worker that dies
// between the two leaves them in Redis, and the monitor's next applied run applies them, oldest first. Applying one
// twice changes nothing: the incident is opened once, and the webhook and re-check jobs have ids of their own.
import {
  type AlertPayload,
  type AlertQueue,
  alertJobOptions,
  buildAlertPayload,
  buildCertificatePayload,
  enqueueAlerts,
  type WebhookRef,
  webhooksFor,
} from './alerting/alerts.js';
import type { CertificateCheck } from './certificate-expiry.js';
import type { MonitorConfig } from './config.js';
import type { MonitorRecord } from './records.js';
import type { RunResult } from './run-result.js';
import type { MonitorScheduler } from './scheduler.js';
import type { Decision, MonitorStatus } from './state-machine.js';
import type { Incident, MonitorStore } from './store.js';

type Verdict = { atMs: number; cause: string; code: string; summary: string };

export interface Consequences {
  incident?:
    | { kind: 'open'; incident: Omit<Incident, 'updates' | 'resolvedAtMs'> }
    | { kind: 'record'; incidentId: string; verdict: Verdict }
    | { kind: 'resolve'; incidentId: string; resolvedAtMs: number }
    | { kind: 'fold'; incidentId: string; into: string; atMs: number };
  /**
   * `channelIds` is absent in consequences written before channels existed. `holdUntilMs`: the alert waits until
   * then and is dropped if a shared incident speaks for the monitor by that time (shared-cause/).
   */
  alert?: { webhooks: WebhookRef[]; channelIds?: string[]; payload: AlertPayload; holdUntilMs?: number };
  /** A certificate expiry warning, sent to the same webhooks and channels as state changes. */
  certificateAlert?: { webhooks: WebhookRef[]; channelIds: string[]; payload: AlertPayload };
  recheckDelayMs?: number;
}

export interface ConsequenceDeps {
  store: MonitorStore;
  scheduler: MonitorScheduler;
  alertQueue: AlertQueue;
  config: MonitorConfig;
}

/** The consequences of a decision, or undefined when it sets nothing off. Pure: ids and times come in. */
export function consequencesOf(
  monitor: MonitorRecord,
  result: RunResult,
  decision: Decision,
  config: MonitorConfig,
  certificateWarning?: CertificateCheck['warning'],
  holdUntilMs?: number,
): Consequences | undefined {
  const verdict: Verdict = {
    atMs: result.startedAtMs,
    cause: result.entry.cause,
    code: result.entry.code,
    summary: result.summary,
  };
  const consequences: Consequences = {};
  const action = decision.incident;
  if (action?.kind === 'open') {
    consequences.incident = {
      kind: 'open',
      incident: {
        id: action.incidentId,
        monitorId: monitor.id,
        monitorName: monitor.name,
        openedAtMs: result.startedAtMs,
        cause: verdict.cause,
        code: verdict.code,
        summary: verdict.summary,
      },
    };
  } else if (action?.kind === 'record' && result.entry.health !== 'up') {
    consequences.incident = { kind: 'record', incidentId: action.incidentId, verdict };
  } else if (action?.kind === 'resolve') {
    consequences.incident = {
      kind: 'resolve',
      incidentId: action.incidentId,
      resolvedAtMs: result.startedAtMs,
    };
  } else if (action?.kind === 'fold') {
    consequences.incident = { ...action, atMs: result.startedAtMs };
  }
  const webhooks = webhooksFor(monitor, config.alerts.globalWebhooks);
  const channelIds = monitor.channels ?? [];
  if (decision.change?.isAlerted && webhooks.length + channelIds.length > 0) {
    consequences.alert = {
      webhooks,
      channelIds,
      payload: buildAlertPayload({
        monitor,
        change: decision.change,
        verdict,
        incidentId: action?.incidentId,
        publicBaseUrl: config.publicBaseUrl,
        vantages: result.entry.vantages,
      }),
      ...(holdUntilMs !== undefined ? { holdUntilMs } : {}),
    };
  }
  if (certificateWarning && webhooks.length + channelIds.length > 0) {
    consequences.certificateAlert = {
      webhooks,
      channelIds,
      payload: buildCertificatePayload({
        monitor,
        state: decision.status.state,
        atMs: result.startedAtMs,
        warning: certificateWarning,
        publicBaseUrl: config.publicBaseUrl,
      }),
    };
  }
  if (decision.isRecheckWanted) consequences.recheckDelayMs = config.recheckDelayMs;
  return Object.keys(consequences).length > 0 ? consequences : undefined;
}

/**
 * How long the alert of this decision waits (undefined: it goes now), and the hold kept with the state. A failure
 * whose cause is prober-side waits `holdMs` for a shared incident to open; the recovery of a monitor whose failure
 * alert still waits, waits as long, so the two arrive in order or are dropped together.
 */
export function alertHoldOf(
  current: MonitorStatus,
  decision: Decision,
  options: { isHeld: boolean; holdMs: number; nowMs: number },
): number | undefined {
  const { status, change } = decision;
  const pending = current.alertHeldUntilMs;
  if (pending !== undefined && pending > options.nowMs) status.alertHeldUntilMs = pending;
  else delete status.alertHeldUntilMs;
  if (!change?.isAlerted) return undefined;
  if (change.to === 'up') return status.alertHeldUntilMs;
  if (!options.isHeld || options.holdMs === 0 || change.to === 'maintenance') return undefined;
  status.alertHeldUntilMs = options.nowMs + options.holdMs;
  return status.alertHeldUntilMs;
}

/** Applies one decision's consequences; safe to repeat (see the top of this file). */
export async function applyConsequences(
  deps: ConsequenceDeps,
  monitorId: string,
  version: number,
  consequences: Consequences,
): Promise<void> {
  const { store } = deps;
  const incident = consequences.incident;
  if (incident?.kind === 'open') await store.openIncident(incident.incident);
  else if (incident?.kind === 'record')
    await store.recordIncidentVerdict(incident.incidentId, incident.verdict);
  else if (incident?.kind === 'resolve')
    await store.resolveIncident(incident.incidentId, incident.resolvedAtMs);
  else if (incident?.kind === 'fold')
    await store.foldIncident(incident.incidentId, incident.into, incident.atMs);
  if (consequences.alert) {
    const { holdUntilMs } = consequences.alert;
    const delay = holdUntilMs === undefined ? 0 : Math.max(0, holdUntilMs - Date.now());
    await enqueueAlerts(
      deps.alertQueue,
      { webhooks: consequences.alert.webhooks, channelIds: consequences.alert.channelIds ?? [] },
      consequences.alert.payload,
      { ...alertJobOptions(deps.config.alerts), ...(delay > 0 ? { delay } : {}) },
      `${monitorId}-${version}`,
      holdUntilMs !== undefined,
    );
  }
  if (consequences.certificateAlert) {
    const { webhooks, channelIds, payload } = consequences.certificateAlert;
    await enqueueAlerts(
      deps.alertQueue,
      { webhooks, channelIds },
      payload,
      alertJobOptions(deps.config.alerts),
      `${monitorId}-${version}-certificate`,
    );
  }
  if (consequences.recheckDelayMs !== undefined) {
    // Queued with the re-checks of the other failures of the same moment: one addBulk for a tick's failures.
    await deps.scheduler.runSoon({
      monitorId,
      trigger: 'recheck',
      delayMs: consequences.recheckDelayMs,
      jobId: `recheck-${monitorId}-${version}`,
    });
  }
}

/**
 * Applies every decision of the monitor whose consequences wait in Redis, oldest first, clearing each once applied.
 * Returns how many were applied.
 */
export async function applyPendingConsequences(deps: ConsequenceDeps, monitorId: string): Promise<number> {
  const pending = await deps.store.pendingConsequences(monitorId);
  for (const { version, consequences } of pending) {
    await applyConsequences(deps, monitorId, version, consequences as Consequences);
    await deps.store.clearPending(monitorId, version);
  }
  return pending.length;
}
