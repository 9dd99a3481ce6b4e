// Turns an engine report into a monitor run: its health and the compact facts kept in the history.
import type { Cause, Report } from '../types.js';
import type { HistoryEntry } from './records.js';

export type RunHealth = 'up' | 'degraded' | 'down';
export type RunTrigger = HistoryEntry['trigger'];

/** One finished run: the history entry plus the words a person reads (kept with the state, not the history). */
export interface RunResult {
  entry: HistoryEntry;
  startedAtMs: number;
  summary: string;
  /** Present for runs the scheduler asked for, to measure how late they started. */
  scheduledAtMs?: number;
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
    phasesMs,
    ...(warningCodesOf(report).length > 0 ? { warnings: warningCodesOf(report) } : {}),
  };
  return {
    entry,
    startedAtMs,
    summary: report.verdict.summary,
    ...(context.scheduledAtMs !== undefined ? { scheduledAtMs: context.scheduledAtMs } : {}),
  };
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
