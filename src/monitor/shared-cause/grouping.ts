// The grouping of failing runs into shared incidents: a pure function from what the window holds (read from
// Redis, see shared-store.ts) and one run's candidate causes to what becomes of that run.
import type { SharedCauseCandidate, SharedCauseKind } from './candidates.js';

export interface SharedSettings {
  isEnabled: boolean;
  /** Failures older than this no longer count toward a shared cause. */
  windowMs: number;
  /** Monitors that must fail with one cause in the window (the share below may ask for fewer or more). */
  minMonitors: number;
  /** The share of all monitors (0..1) that also suffices for a prober-side cause and is needed for a `code` one. */
  minShare: number;
  /** How long a site's alert waits when its failure has a prober-side cause and no shared incident explains it. */
  holdMs: number;
}

/** What the window holds for one candidate cause, this run's own failure included. */
export interface KeyWindow {
  key: string;
  /** Monitors that failed with this cause within the window, this run's monitor included. */
  observerCount: number;
  /** The shared incident open for this cause, if any. */
  openIncidentId?: string;
}

export interface WindowState {
  monitorCount: number;
  /** The shared incident this monitor is part of, if any, and the cause it was grouped under. */
  membership?: { incidentId: string; key: string };
  keys: KeyWindow[];
}

/** What becomes of one run. */
export interface SharedDecision {
  /** The incident the monitor leaves: its run is up, or fails for another reason than the one it shared. */
  leave?: string;
  /** The incident that explains this run: it stays in, joins, or this run opens it. */
  explainedBy?:
    | { kind: 'stay'; incidentId: string; key: string }
    | { kind: 'join'; incidentId: string; candidate: SharedCauseCandidate }
    | { kind: 'open'; candidate: SharedCauseCandidate };
  /** No shared incident explains the failure yet, but its cause is prober-side: hold its alert. */
  isHeld: boolean;
}

/** The monitors one cause needs in the window before it becomes a shared incident. */
export function thresholdOf(kind: SharedCauseKind, monitorCount: number, settings: SharedSettings): number {
  const byShare = Math.ceil(settings.minShare * monitorCount);
  // A prober-side cause is plain from a few monitors; a code any site can fail with needs a large share too.
  if (kind === 'code') return Math.max(2, settings.minMonitors, byShare);
  return Math.max(2, Math.min(settings.minMonitors, byShare));
}

/**
 * `candidates` are the run's possible shared causes, most specific first (none when it is up, in maintenance
 * or failed for a reason no other site can share).
 */
export function groupRun(
  candidates: SharedCauseCandidate[],
  state: WindowState,
  settings: SharedSettings,
): SharedDecision {
  const { membership } = state;
  if (membership && candidates.some((candidate) => candidate.key === membership.key))
    return {
      explainedBy: { kind: 'stay', incidentId: membership.incidentId, key: membership.key },
      isHeld: false,
    };
  const leave = membership?.incidentId;
  const decision: SharedDecision = { ...(leave ? { leave } : {}), isHeld: false };
  for (const candidate of candidates) {
    const window = state.keys.find((entry) => entry.key === candidate.key);
    if (!window) continue;
    if (window.openIncidentId && window.openIncidentId !== leave) {
      return { ...decision, explainedBy: { kind: 'join', incidentId: window.openIncidentId, candidate } };
    }
    if (window.observerCount >= thresholdOf(candidate.kind, state.monitorCount, settings)) {
      return { ...decision, explainedBy: { kind: 'open', candidate } };
    }
  }
  decision.isHeld = candidates.some((candidate) => candidate.isProberSide);
  return decision;
}
