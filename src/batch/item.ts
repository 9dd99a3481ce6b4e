// One URL of a batch run by the service, once it has ended: its report, or why it has none. Shared by the
// store that keeps it, the routes that stream it and the CLI that prints it.
import { causes, type MultiVantageReport, type Report } from '../types.js';
import { csvCell, csvRow } from './output.js';

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

/** An item with no report, as a CSV row in the CLI's columns: its status as the cause, its reason as the summary. */
export function itemCsvRow(item: BatchItem): string {
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
