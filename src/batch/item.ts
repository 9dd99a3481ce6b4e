// One URL of a batch run by the service, once it has ended: its report, or why it has none. Shared by the
// store that keeps it, the routes that stream it and the CLI that prints it.
import { causes, type MultiVantageReport, type Report } from '../types.js';
import { csvCell, csvHeader, csvRow } from './output.js';

/** How an item ended: probed (the report says how the site fared), refused by the address policy, cancelled, failed. */
export const itemStatuses = ['completed', 'refused', 'cancelled', 'failed'] as const;
export type ItemStatus = (typeof itemStatuses)[number];

/** A verdict's causes, and for an item without a report its status in their place. */
export const itemCauses = [...causes, 'refused', 'cancelled', 'failed'] as const;
export type ItemCause = (typeof itemCauses)[number];

/** A URL's report: one vantage's, or, in a batch with vantages, the comparison of theirs. */
export type ItemReport = Report | MultiVantageReport;

export type BatchItem =
  | { index: number; url: string; status: 'completed'; cause: ItemCause; report: ItemReport }
  | { index: number; url: string; status: 'refused'; cause: 'refused'; reason: string; address?: string }
  | { index: number; url: string; status: 'cancelled'; cause: 'cancelled'; reason: string }
  | { index: number; url: string; status: 'failed'; cause: 'failed'; reason: string };

/** The CSV header of a batch's results: the CLI's columns, and for a batch with vantages one more, `vantages`. */
export function itemCsvHeader(hasVantages: boolean): string {
  return hasVantages ? `${csvHeader},vantages` : csvHeader;
}

/**
 * An item as a CSV row in the CLI's columns; an item with no report has its status as the cause and its reason as
 * the summary. In a batch with vantages (`hasVantages`), a last cell holds each vantage's own cause.
 */
export function itemCsvRow(item: BatchItem, hasVantages = false): string {
  const row = cliCsvRow(item);
  if (!hasVantages) return row;
  const report = item.status === 'completed' ? item.report : undefined;
  return `${row},${csvCell(report && isCompared(report) ? vantageCausesOf(report) : '')}`;
}

/**
 * Each vantage's own cause in a comparison, in the report's order (`local=ok;isp-b=filtered_path`); a vantage
 * without a report has its status in its place (`lost`, `refused`, `failed`).
 */
export function vantageCausesOf(report: MultiVantageReport): string {
  return report.vantages
    .map((vantage) => `${vantage.name}=${vantage.report?.verdict.cause ?? vantage.status}`)
    .join(';');
}

function cliCsvRow(item: BatchItem): string {
  if (item.status === 'completed') {
    if (!isCompared(item.report)) return csvRow(item.report);
    // A comparison has no phase times of its own: each vantage's are in its report (NDJSON).
    const { verdict } = item.report;
    const cells = [
      item.report.url,
      verdict.cause,
      verdict.code,
      verdict.confidence.toFixed(2),
      verdict.summary,
    ];
    return [...cells, '', '', '', '', item.report.durationMs].map(csvCell).join(',');
  }
  return [item.url, item.cause, '', '', item.reason, '', '', '', '', ''].map(csvCell).join(',');
}

export function isCompared(report: ItemReport): report is MultiVantageReport {
  return 'vantages' in report;
}

/** What a summary counts of an item: a report's verdict, or the status standing in for one. */
export function verdictLineOf(item: BatchItem): {
  url: string;
  verdict: { cause: string; code: string; summary: string };
} {
  if (item.status === 'completed') return item.report;
  return {
    url: item.url,
    verdict: { cause: item.cause, code: '-', summary: `${item.status}: ${item.reason}` },
  };
}
