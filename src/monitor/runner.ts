// One monitor run: probe with the engine, keep the result, move the state machine, open incidents, send alerts.
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { z } from 'zod';
import { InputError, probe, TargetRefusedError } from '../engine.js';
import { fieldErrorsOf } from '../requests/field-errors.js';
import { type ProbeDefaults, probeOptionsFrom } from '../requests/probe-options.js';
import type { AddressPolicy } from '../safety/address-policy.js';
import { refuseTargets } from '../safety/target-check.js';
import type { AlertQueue } from './alerting/alerts.js';
import { checkCertificate, defaultCertificateWarningDays } from './certificate-expiry.js';
import type { MonitorConfig } from './config.js';
import { alertHoldOf, applyPendingConsequences, consequencesOf } from './consequences.js';
import { isInMaintenance } from './maintenance.js';
import { type MonitorRecord, monitorIdSchema } from './records.js';
import { type RunResult, type RunTrigger, runResultOf, unprobedDownRun } from './run-result.js';
import type { MonitorRunJobData, MonitorScheduler } from './scheduler.js';
import { foldIfJoined, observeRun, sendSharedMessages } from './shared-cause/shared-incidents.js';
import type { SharedStore } from './shared-cause/shared-store.js';
import { type Decision, decide, type MonitorStatus } from './state-machine.js';
import type { MonitorStore } from './store.js';
import { type MonitorVantages, probeFromVantages } from './vantage-run.js';

export interface RunEvent {
  monitorId: string;
  result: RunResult;
  decision: Decision | undefined;
}

export interface MonitorRunnerDeps {
  store: MonitorStore;
  scheduler: MonitorScheduler;
  alertQueue: AlertQueue;
  config: MonitorConfig;
  probeDefaults: ProbeDefaults;
  policy: AddressPolicy;
  logger: Logger;
  /** Emits 'run' (RunEvent) after each run is fully applied: tests await it, metrics count it. */
  events: EventEmitter;
  /** Monitors with vantages fan out through these; without them such a monitor's runs are refused. */
  vantages?: MonitorVantages;
  /** Groups failures with one cause into one shared incident (shared-cause/); without it each site is alone. */
  shared?: SharedStore;
}

const maxCasAttempts = 8;

export type RunOutcome =
  | { outcome: 'applied'; event: RunEvent }
  | { outcome: 'deleted' }
  | { outcome: 'superseded' }
  /** Cut short by our own abort (the worker's shutdown deadline): nothing kept, the job is for another worker. */
  | { outcome: 'interrupted' }
  | { outcome: 'invalid'; message: string };

/** What a monitor-run job may carry; anything else was not written by our scheduler and is not acted on. */
const runJobSchema = z.strictObject({
  monitorId: monitorIdSchema,
  trigger: z.enum(['schedule', 'recheck', 'manual']),
});

/** One run of one monitor, from a one-off job (first run, re-check, manual). */
export async function runMonitor(
  deps: MonitorRunnerDeps,
  data: MonitorRunJobData,
  context: { signal?: AbortSignal },
): Promise<RunOutcome> {
  const { store, logger } = deps;
  const checked = runJobSchema.safeParse(data);
  if (!checked.success) {
    const message = fieldErrorsOf(checked.error)
      .map((error) => `${error.field}: ${error.message}`)
      .join('; ');
    logger.warn({ message }, 'monitor run job refused: its data is not valid');
    return { outcome: 'invalid', message };
  }
  // A tick of a per-monitor job scheduler from before shards, queued before the upgrade removed its scheduler:
  // the monitor's shard runs this tick, so running it here too would run it twice.
  if (data.trigger === 'schedule') return { outcome: 'superseded' };
  const monitor = await store.getMonitor(data.monitorId);
  if (!monitor) return { outcome: 'deleted' };
  const isMaintenance = isInMaintenance(monitor, Date.now());
  const { signal } = context;
  let result: RunResult;
  try {
    result = await probeMonitor(monitor, deps, {
      trigger: data.trigger,
      isMaintenance,
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    if (signal?.aborted) return { outcome: 'interrupted' };
    throw error;
  }
  // A probe cut short by our shutdown tells of our abort (a timeout the site never had), not of the site: keeping
  // it would write a false down run and could open an incident and alert. The shard path drops such runs too.
  if (signal?.aborted) return { outcome: 'interrupted' };
  return applyRun(deps, monitor, result);
}

/**
 * Keeps a finished run: its history entry and counters, then the state machine moved by compare-and-set (decided
 * again on a conflict), then what the new state sets off. `current` saves the first status read when the caller
 * read it with others.
 */
export async function applyRun(
  deps: MonitorRunnerDeps,
  monitor: MonitorRecord,
  result: RunResult,
  current?: MonitorStatus,
): Promise<RunOutcome> {
  const { store, logger } = deps;
  const isMaintenance = result.entry.isMaintenance;
  await store.recordRun(monitor.id, result);
  const sharedDeps = deps.shared ? { ...deps, shared: deps.shared } : undefined;
  const grouped = sharedDeps
    ? await observeRun(sharedDeps, monitor, result, isMaintenance)
    : { isHeld: false };

  let decision: Decision | undefined;
  let isPendingLeft = false;
  let known = current;
  for (let attempt = 1; attempt <= maxCasAttempts; attempt += 1) {
    const status = known ?? (await store.getStatus(monitor.id));
    known = undefined;
    const candidate = decide(
      status,
      {
        startedAtMs: result.startedAtMs,
        health: result.entry.health,
        isMaintenance,
        cause: result.entry.cause,
        code: result.entry.code,
        summary: result.summary,
        lastRun: {
          at: result.entry.at,
          health: result.entry.health,
          isMaintenance,
          cause: result.entry.cause,
          code: result.entry.code,
          summary: result.summary,
          durationMs: result.entry.durationMs,
          ...(result.entry.status !== undefined ? { status: result.entry.status } : {}),
          phasesMs: result.entry.phasesMs,
          ...(result.entry.warnings ? { warnings: result.entry.warnings } : {}),
          ...(result.entry.vantages ? { vantages: result.entry.vantages } : {}),
          ...(result.entry.certificateNotAfter
            ? { certificateNotAfter: result.entry.certificateNotAfter }
            : {}),
        },
      },
      {
        confirmations: monitor.confirmations,
        newIncidentId: randomUUID(),
        ...(grouped.outcome ? { shared: grouped.outcome } : {}),
      },
    );
    if (!candidate.isApplied) break;
    const holdUntilMs = alertHoldOf(status, candidate, {
      isHeld: grouped.isHeld,
      holdMs: deps.config.shared.holdMs,
      nowMs: Date.now(),
    });
    const certificate = checkCertificate(
      result.entry.certificateNotAfter,
      result.startedAtMs,
      monitor.certificateExpiryDays ?? defaultCertificateWarningDays,
      status.certificateWarning,
      isMaintenance,
    );
    if (certificate.state) candidate.status.certificateWarning = certificate.state;
    else delete candidate.status.certificateWarning;
    const written = await store.casStatus(
      monitor.id,
      status.version,
      candidate.status,
      consequencesOf(monitor, result, candidate, deps.config, certificate.warning, holdUntilMs),
    );
    if (written === 'deleted') return { outcome: 'deleted' };
    if (written === 'written' || written === 'writtenWithPending') {
      decision = candidate;
      isPendingLeft = written === 'writtenWithPending';
      break;
    }
    // Another run of the same monitor (a re-check and a tick) wrote first: decide again on its outcome.
  }
  if (decision === undefined) {
    logger.debug({ monitorId: monitor.id }, 'run not applied: a newer run was applied first');
  }
  // This run's consequences, and any an earlier run wrote but did not get to apply (its worker died), in order.
  if (isPendingLeft) await applyPendingConsequences(deps, monitor.id);
  if (sharedDeps) {
    if (decision?.incident?.kind === 'open')
      await foldIfJoined(sharedDeps, monitor.id, decision.incident.incidentId);
    await sendSharedMessages(sharedDeps);
  }
  const event: RunEvent = { monitorId: monitor.id, result, decision };
  deps.events.emit('run', event);
  return { outcome: 'applied', event };
}

/** Probes the monitor once (from its vantages when it has some); the target's failure is a down run, not a throw. */
export async function probeMonitor(
  monitor: MonitorRecord,
  deps: MonitorRunnerDeps,
  context: { trigger: RunTrigger; isMaintenance: boolean; scheduledAtMs?: number; signal?: AbortSignal },
): Promise<RunResult> {
  const startedAtMs = Date.now();
  try {
    // The record was checked when it was written, but the policy may have changed since, and the store is not
    // the API's alone: every run is judged again before a packet goes out.
    const refusal = refuseTargets(monitor, deps.policy);
    if (refusal) throw new TargetRefusedError(refusal.address, refusal.reason);
    if (monitor.vantages !== undefined) {
      if (!deps.vantages) throw new InputError('vantages', 'this worker cannot run monitors from vantages');
      return await probeFromVantages(
        { ...monitor, vantages: monitor.vantages },
        deps.vantages,
        deps.probeDefaults,
        context,
      );
    }
    const report = await probe({
      ...probeOptionsFrom(monitor, deps.probeDefaults),
      isAddressAllowed: deps.policy,
      ...(context.signal ? { signal: context.signal } : {}),
    });
    return runResultOf(report, context);
  } catch (error) {
    // The target (or its input) is refused outright: a down run whose summary says why, not an infrastructure error.
    if (error instanceof TargetRefusedError || error instanceof InputError) {
      const code = error instanceof TargetRefusedError ? 'policy.refused' : 'input.invalid';
      return unprobedDownRun(startedAtMs, context, { cause: 'refused', code, summary: error.message });
    }
    throw error;
  }
}
