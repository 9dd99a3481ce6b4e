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
  /** The shared incident (one cause, many monitors) that explains this monitor's failure, while it does. */
  sharedIncidentId?: string;
  /** A failure alert held back until then (a prober-side cause, see shared-cause/): its recovery waits as long. */
  alertHeldUntilMs?: number;
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
  | { kind: 'resolve'; incidentId: string }
  /** The monitor's own incident is folded into the shared incident that explains its failure. */
  | { kind: 'fold'; incidentId: string; into: string };

/**
 * What the shared-cause grouping said of this run: a shared incident explains its failure, or the monitor has
 * just left one (it is up again, or fails for a reason of its own).
 */
export type SharedRunOutcome =
  | { kind: 'explained'; incidentId: string }
  | { kind: 'left'; incidentId: string };

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
  shared?: SharedRunOutcome;
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

  delete base.sharedIncidentId;
  const explainedBy = options.shared?.kind === 'explained' ? options.shared.incidentId : undefined;
  /** The failure was explained by a shared incident: nobody was told of it by this monitor. */
  const wasShared = current.sharedIncidentId !== undefined || options.shared?.kind === 'left';

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
    const isQuietRecovery = current.state === 'pending' || current.state === 'maintenance' || wasShared;
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
  if (explainedBy) return decideExplained(current, status, run, explainedBy, isConfirmed);
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
  // Still failing, but no longer for the shared cause: the site's own failure is news.
  const isNewsAgain = incident?.kind === 'open' && current.state === target;
  if (current.state === target && !isNewsAgain)
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

/**
 * A failure a shared incident explains: the monitor's state follows the run as usual, but it opens no incident of
 * its own (one it opened before the shared incident did is folded into it) and its changes alert nobody: the
 * shared incident's messages speak for it.
 */
function decideExplained(
  current: MonitorStatus,
  status: MonitorStatus,
  run: RunInput,
  sharedIncidentId: string,
  isConfirmed: boolean,
): Decision {
  status.sharedIncidentId = sharedIncidentId;
  delete status.openIncidentId;
  const incident: IncidentAction | undefined = current.openIncidentId
    ? { kind: 'fold', incidentId: current.openIncidentId, into: sharedIncidentId }
    : undefined;
  const common = { isApplied: true, ...(incident ? { incident } : {}) };
  if (!isConfirmed) return { ...common, status, isRecheckWanted: true };
  const target: MonitorState = run.health === 'up' ? 'down' : run.health;
  if (current.state === target) return { ...common, status, isRecheckWanted: false };
  status.state = target;
  status.sinceMs = run.startedAtMs;
  return {
    ...common,
    status,
    change: { from: current.state, to: target, atMs: run.startedAtMs, isAlerted: false },
    isRecheckWanted: false,
  };
}
