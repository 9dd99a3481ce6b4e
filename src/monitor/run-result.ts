// Turns an engine report into a monitor run: its health and the compact facts kept in the history.
import type { Cause, MultiVantageReport, Report } from '../types.js';
import type { HistoryEntry, VantageOutcome } from './records.js';
import { type SharedCauseCandidate, serviceVantage, sharedCausesOf } from './shared-cause/candidates.js';

export type RunHealth = 'up' | 'degraded' | 'down';
export type RunTrigger = HistoryEntry['trigger'];

/** One finished run: the history entry plus the words a person reads (kept with the state, not the history). */
export interface RunResult {
  entry: HistoryEntry;
  startedAtMs: number;
  summary: string;
  /** Present for runs the scheduler asked for, to measure how late they started. */
  scheduledAtMs?: number;
  /** For a failing run: the causes it may share with other monitors (shared-cause/), most specific first. */
  sharedCauses?: SharedCauseCandidate[];
}

/** An overloaded or slow site still answers: degraded. Every other diagnosed problem means people cannot use it. */
export function healthOf(cause: Cause): RunHealth {
  if (cause === 'ok') return 'up';
  if (cause === 'overload') return 'degraded';
  return 'down';
}

export function runResultOf(
  report: Report,
  context: { trigger: RunTrigger; isMaintenance: boolean; scheduledAtMs?: number },
): RunResult {
  const startedAtMs = Date.parse(report.startedAt);
  const lastHop = report.target.http?.hops.at(-1)?.exchange;
  const entry: HistoryEntry = {
    at: report.startedAt,
    ...(context.scheduledAtMs !== undefined
      ? { scheduledAt: new Date(context.scheduledAtMs).toISOString() }
      : {}),
    trigger: context.trigger,
    health: healthOf(report.verdict.cause),
    isMaintenance: context.isMaintenance,
    cause: report.verdict.cause,
    code: report.verdict.code,
    ...(lastHop?.status !== undefined ? { status: lastHop.status } : {}),
    durationMs: report.durationMs,
    phasesMs: phasesOf(report),
    ...(warningCodesOf(report).length > 0 ? { warnings: warningCodesOf(report) } : {}),
    ...certificateOf(report),
  };
  const sharedCauses = entry.health === 'up' ? [] : sharedCausesOf(report, serviceVantage);
  return {
    entry,
    startedAtMs,
    summary: report.verdict.summary,
    ...(context.scheduledAtMs !== undefined ? { scheduledAtMs: context.scheduledAtMs } : {}),
    ...(sharedCauses.length > 0 ? { sharedCauses } : {}),
  };
}

/**
 * A run from several vantages. A vantage whose own network fails (its verdict is local_network) and one with no
 * report do not vote. The run is down when at least `quorum` vantages see the site down (default: a majority of
 * those asked), degraded when that many see it down or degraded, and up otherwise: a lone failing vantage opens
 * no incident, and the entry says what each saw.
 */
export function runResultOfVantages(
  report: MultiVantageReport,
  quorum: number | undefined,
  context: { trigger: RunTrigger; isMaintenance: boolean; scheduledAtMs?: number },
): RunResult {
  const outcomes: VantageOutcome[] = report.vantages.map((vantage) =>
    vantage.report
      ? {
          name: vantage.name,
          status: vantage.status,
          health: healthOf(vantage.report.verdict.cause),
          cause: vantage.report.verdict.cause,
          code: vantage.report.verdict.code,
        }
      : { name: vantage.name, status: vantage.status },
  );
  const needed = quorum ?? Math.floor(report.vantages.length / 2) + 1;
  const voters = outcomes.filter(
    (outcome) => outcome.health !== undefined && outcome.cause !== 'local_network',
  );
  const down = voters.filter((outcome) => outcome.health === 'down');
  const notUp = voters.filter((outcome) => outcome.health !== 'up');
  const health: RunHealth = down.length >= needed ? 'down' : notUp.length >= needed ? 'degraded' : 'up';
  const isBelowQuorum = health === 'up' && report.verdict.cause !== 'ok';
  // Timings from the first vantage that has a report: the history keeps one set of phases.
  const first = report.vantages.find((vantage) => vantage.report)?.report;
  const lastHop = first?.target.http?.hops.at(-1)?.exchange;
  const entry: HistoryEntry = {
    at: report.startedAt,
    ...(context.scheduledAtMs !== undefined
      ? { scheduledAt: new Date(context.scheduledAtMs).toISOString() }
      : {}),
    trigger: context.trigger,
    health,
    isMaintenance: context.isMaintenance,
    cause: isBelowQuorum ? 'ok' : report.verdict.cause,
    code: isBelowQuorum ? 'vantage.below_quorum' : report.verdict.code,
    ...(lastHop?.status !== undefined ? { status: lastHop.status } : {}),
    durationMs: report.durationMs,
    phasesMs: first ? phasesOf(first) : {},
    ...(first ? certificateOf(first) : {}),
    vantages: outcomes,
  };
  const summary = isBelowQuorum
    ? `Up by quorum: ${notUp.map((outcome) => `${outcome.name} sees ${outcome.code}`).join(', ')}; ${needed} of ${report.vantages.length} vantages must agree to call it ${down.length > 0 ? 'down' : 'degraded'}. ${report.verdict.summary}`
    : report.verdict.summary;
  // Each vantage that saw the site down may share its cause with other monitors seen from there.
  const sharedCauses =
    health === 'up'
      ? []
      : report.vantages.flatMap((vantage) =>
          vantage.report && healthOf(vantage.report.verdict.cause) === 'down'
            ? sharedCausesOf(vantage.report, vantage.name)
            : [],
        );
  return {
    entry,
    startedAtMs: Date.parse(report.startedAt),
    summary,
    ...(context.scheduledAtMs !== undefined ? { scheduledAtMs: context.scheduledAtMs } : {}),
    ...(sharedCauses.length > 0 ? { sharedCauses } : {}),
  };
}

/** A down run where nothing was probed (the target refused, no vantage live): its cause, code and why. */
export function unprobedDownRun(
  startedAtMs: number,
  context: { trigger: RunTrigger; isMaintenance: boolean; scheduledAtMs?: number },
  what: { cause: string; code: string; summary: string; vantages?: VantageOutcome[] },
): RunResult {
  return {
    startedAtMs,
    summary: what.summary,
    ...(context.scheduledAtMs !== undefined ? { scheduledAtMs: context.scheduledAtMs } : {}),
    entry: {
      at: new Date(startedAtMs).toISOString(),
      ...(context.scheduledAtMs !== undefined
        ? { scheduledAt: new Date(context.scheduledAtMs).toISOString() }
        : {}),
      trigger: context.trigger,
      health: 'down',
      isMaintenance: context.isMaintenance,
      cause: what.cause,
      code: what.code,
      durationMs: Date.now() - startedAtMs,
      phasesMs: {},
      ...(what.vantages ? { vantages: what.vantages } : {}),
    },
  };
}

function phasesOf(report: Report): HistoryEntry['phasesMs'] {
  const lastHop = report.target.http?.hops.at(-1)?.exchange;
  const timings = lastHop?.timings;
  const phasesMs: HistoryEntry['phasesMs'] = {};
  if (report.target.dns) phasesMs.resolve = round(report.target.dns.durationMs);
  if (timings?.connectMs !== undefined) phasesMs.connect = round(timings.connectMs);
  if (timings?.tlsMs !== undefined) phasesMs.tls = round(timings.tlsMs);
  if (timings?.firstByteMs !== undefined) phasesMs.processing = round(timings.firstByteMs);
  if (timings !== undefined && timings.firstByteMs !== undefined) {
    const before = (timings.connectMs ?? 0) + (timings.tlsMs ?? 0) + timings.firstByteMs;
    phasesMs.transfer = round(Math.max(0, timings.totalMs - before));
  }
  return phasesMs;
}

/** A degraded path (one dead address) is worth seeing in the history, but the site works: health stays. */
function warningCodesOf(report: Report): string[] {
  // Reports from before warnings existed have none.
  return [...new Set((report.warnings ?? []).map((warning) => warning.code))];
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** Plain words for a cause, for the status page and alert texts. */
export const causeInPlainWords: Record<string, string> = {
  ok: 'Working normally',
  dns_failure: 'Its name does not resolve (DNS failure)',
  server_fault: 'The server is down or failing',
  local_network: 'Our monitoring network could not reach it',
  overload: 'The server is overloaded or slow',
  domain_migration: 'The site has moved to another domain',
  filtered_path: 'Something on the network path is blocking it',
  refused: 'The monitor’s address is not allowed',
};

/**
 * The notAfter of the certificate that expires first along the way the run took: the URL's own (an https URL) and
 * each https redirect hop's, so a monitor of `http://site/` that redirects to https warns before the https
 * site's certificate runs out. None when the run saw no certificate.
 */
function certificateOf(report: Report): { certificateNotAfter?: string } {
  const { target } = report;
  let soonest: string | undefined = target.tls?.certificate?.validTo;
  for (const hop of target.http?.hops ?? []) {
    const validTo = hop.exchange.tls?.certificate?.validTo;
    if (validTo !== undefined && (soonest === undefined || Date.parse(validTo) < Date.parse(soonest)))
      soonest = validTo;
  }
  return soonest ? { certificateNotAfter: soonest } : {};
}
