// The monitor's state machine: a pure function from (status, run) to the next status and what to do about it.

import type { CertificateWarningState } from './certificate-expiry.js';
import type { MonitorState, VantageOutcome } from './records.js';
import type { RunHealth } from './run-result.js';

export interface LastRun {
  at: string;
  health: RunHealth;
  isMaintenance: boolean;
  cause: string;
  code: string;
  summary: string;
  durationMs: number;
  status?: number;
  phasesMs: Record<string, number | undefined>;
  /** Codes of the run's warnings, when it had any. */
  warnings?: string[];
  /** What each vantage saw, for a monitor with vantages. */
  vantages?: VantageOutcome[];
  /** The site's certificate's notAfter, when the run saw one. */
  certificateNotAfter?: string;
}

/** Kept per monitor in Redis; `version` makes every write a compare-and-set. */
export interface MonitorStatus {
  version: number;
  state: MonitorState;
  sinceMs: number;
  /** Consecutive runs that were not up (reset by an up run and by maintenance). */
  consecutiveFailures: number;
  /** Start time of the newest run applied: an older run finishing late does not move the state back. */
  lastStartedAtMs: number;
  lastRun?: LastRun;
  openIncidentId?: string;
  /** The certificate expiry warnings already sent (certificate-expiry.ts). */
  certificateWarning?: CertificateWarningState;
}

export function initialStatus(nowMs: number): MonitorStatus {
  return { version: 0, state: 'pending', sinceMs: nowMs, consecutiveFailures: 0, lastStartedAtMs: 0 };
}

export interface RunInput {
  startedAtMs: number;
  health: RunHealth;
  isMaintenance: boolean;
  cause: string;
  code: string;
  summary: string;
  lastRun: LastRun;
}

export interface StateChange {
  from: MonitorState;
  to: MonitorState;
  atMs: number;
  /** False for changes nobody needs to be told about: into and out of maintenance to up, the first up. */
  isAlerted: boolean;
}

export type IncidentAction =
  | { kind: 'open'; incidentId: string }
  | { kind: 'record'; incidentId: string }
  | { kind: 'resolve'; incidentId: string };

export interface Decision {
  status: MonitorStatus;
  /** False when the run is older than one already applied: keep it in the history, change nothing else. */
  isApplied: boolean;
  change?: StateChange;
  incident?: IncidentAction;
  /** The run failed but the failure is not confirmed yet: run again now rather than at the next tick. */
  isRecheckWanted: boolean;
}

export interface DecideOptions {
  confirmations: number;
  /** The id to use if this run opens an incident (drawn by the caller so the function stays pure). */
  newIncidentId: string;
}

export function decide(current: MonitorStatus, run: RunInput, options: DecideOptions): Decision {
  if (run.startedAtMs < current.lastStartedAtMs) {
    return { status: current, isApplied: false, isRecheckWanted: false };
  }
  const base: MonitorStatus = {
    ...current,
    version: current.version + 1,
    lastStartedAtMs: run.startedAtMs,
    lastRun: run.lastRun,
  };

  if (run.isMaintenance) {
    const status: MonitorStatus = { ...base, state: 'maintenance', consecutiveFailures: 0 };
    if (current.state === 'maintenance') return { status, isApplied: true, isRecheckWanted: false };
    status.sinceMs = run.startedAtMs;
    return {
      status,
      isApplied: true,
      change: { from: current.state, to: 'maintenance', atMs: run.startedAtMs, isAlerted: false },
      isRecheckWanted: false,
    };
  }

  if (run.health === 'up') {
    const status: MonitorStatus = { ...base, consecutiveFailures: 0, state: 'up' };
    delete status.openIncidentId;
    const incident: IncidentAction | undefined = current.openIncidentId
      ? { kind: 'resolve', incidentId: current.openIncidentId }
      : undefined;
    if (current.state === 'up')
      return { status, isApplied: true, isRecheckWanted: false, ...(incident ? { incident } : {}) };
    status.sinceMs = run.startedAtMs;
    const isQuietRecovery = current.state === 'pending' || current.state === 'maintenance';
    return {
      status,
      isApplied: true,
      change: { from: current.state, to: 'up', atMs: run.startedAtMs, isAlerted: !isQuietRecovery },
      ...(incident ? { incident } : {}),
      isRecheckWanted: false,
    };
  }

  // A failing run (degraded or down).
  const failures = current.consecutiveFailures + 1;
  const status: MonitorStatus = { ...base, consecutiveFailures: failures };
  const isConfirmed = failures >= options.confirmations;
  if (!isConfirmed) {
    return {
      status,
      isApplied: true,
      ...(current.openIncidentId ? { incident: { kind: 'record', incidentId: current.openIncidentId } } : {}),
      isRecheckWanted: true,
    };
  }
  const target: MonitorState = run.health;
  let incident: IncidentAction | undefined;
  if (current.openIncidentId) incident = { kind: 'record', incidentId: current.openIncidentId };
  else if (target === 'down') {
    incident = { kind: 'open', incidentId: options.newIncidentId };
    status.openIncidentId = options.newIncidentId;
  }
  if (current.state === target)
    return { status, isApplied: true, isRecheckWanted: false, ...(incident ? { incident } : {}) };
  status.state = target;
  status.sinceMs = run.startedAtMs;
  return {
    status,
    isApplied: true,
    change: { from: current.state, to: target, atMs: run.startedAtMs, isAlerted: true },
    ...(incident ? { incident } : {}),
    isRecheckWanted: false,
  };
}
