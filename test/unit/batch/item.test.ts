// A service batch's items: their CSV rows in the CLI's columns, the cause read from a stored item, the keys of a batch.
import { describe, expect, it } from 'vitest';
import { causeOfStored } from '../../../src/batch/http/results.js';
import {
  type BatchItem,
  itemCsvHeader,
  itemCsvRow,
  vantageCausesOf,
  verdictLineOf,
} from '../../../src/batch/item.js';
import { itemOf } from '../../../src/batch/item-runner.js';
import { batchKeys } from '../../../src/batch/store.js';
import { compareVantages } from '../../../src/diagnosis/compare.js';
import type { MultiVantageReport, VantageResult } from '../../../src/types.js';
import { reportOfObservations } from '../../support/observation-reports.js';

/** A keyword reset on isp-a's path, isp-b and campus reaching the site, and a fourth vantage lost. */
function comparedReport(): MultiVantageReport {
  const url = 'http://www.example.test/news';
  const vantages: VantageResult[] = [
    {
      name: 'isp-a',
      labels: {},
      status: 'completed',
      report: reportOfObservations('filter-keyword-reset', url),
    },
    { name: 'isp-b', labels: {}, status: 'completed', report: reportOfObservations('http-ok', url) },
    { name: 'campus', labels: {}, status: 'completed', report: reportOfObservations('http-ok', url) },
    { name: 'mobile', labels: {}, status: 'lost', reason: "no result by the probe's deadline" },
  ];
  return {
    schemaVersion: 1,
    url,
    startedAt: '2026-11-30T00:00:00.000Z',
    durationMs: 812,
    vantages,
    verdict: compareVantages({ url, vantages }),
  };
}

const refused: BatchItem = {
  index: 2,
  url: 'http://10.0.0.1/',
  status: 'refused',
  cause: 'refused',
  reason: 'http://10.0.0.1/: a private address (RFC 1918)',
  address: '10.0.0.1',
};

/** The item a batch records for a comparison: its cause is the compared verdict's. */
const comparedItem = (report: MultiVantageReport): BatchItem => ({
  index: 0,
  url: report.url,
  status: 'completed',
  cause: report.verdict.cause,
  report,
});

describe('batch items', () => {
  it('writes an item without a report in the CLI’s ten CSV columns, its status as the cause', () => {
    expect(itemCsvRow(refused)).toBe(
      'http://10.0.0.1/,refused,,,http://10.0.0.1/: a private address (RFC 1918),,,,,',
    );
    expect(itemCsvRow(refused).split(',')).toHaveLength(10);
  });

  it('writes a comparison with each vantage’s own cause in a last column, in the report’s order', () => {
    const report = comparedReport();
    const item = comparedItem(report);
    expect(item.cause).toBe('filtered_path');
    expect(itemCsvHeader(true)).toBe(
      'url,cause,code,confidence,summary,dns_ms,connect_ms,tls_ms,first_byte_ms,total_ms,vantages',
    );
    expect(vantageCausesOf(report)).toBe('isp-a=filtered_path;isp-b=ok;campus=ok;mobile=lost');
    const row = itemCsvRow(item, true);
    expect(row.startsWith(`${report.url},filtered_path,filter.keyword_reset,`)).toBe(true);
    expect(row.endsWith(',812,isp-a=filtered_path;isp-b=ok;campus=ok;mobile=lost')).toBe(true);
    // Without vantages the columns are the CLI's ten, as before.
    expect(itemCsvHeader(false)).toBe(itemCsvHeader(true).replace(/,vantages$/, ''));
    // An item without a comparison in a batch with vantages: the last cell empty, so every row has 11 columns.
    expect(itemCsvRow(refused, true)).toBe(`${itemCsvRow(refused)},`);
    expect(itemCsvRow(refused, true).split(',')).toHaveLength(11);
  });

  it('counts a comparison by its compared verdict in the summary', () => {
    const report = comparedReport();
    const item = comparedItem(report);
    expect(verdictLineOf(item).verdict).toMatchObject({
      cause: 'filtered_path',
      code: 'filter.keyword_reset',
    });
  });

  it('reads the cause of a stored item without its report, even when the URL holds the same words', () => {
    const tricky: BatchItem = {
      ...refused,
      url: 'http://a.test/?x=","cause":"ok"',
      status: 'cancelled',
      cause: 'cancelled',
    };
    expect(causeOfStored(JSON.stringify(tricky))).toBe('cancelled');
    expect(causeOfStored(JSON.stringify(refused))).toBe('refused');
  });

  it('turns a job result without a report into a failed item, never a lost one', () => {
    expect(itemOf(4, 'http://a.test/', { outcome: 'invalid', field: 'url', message: 'bad' })).toMatchObject({
      index: 4,
      status: 'failed',
      cause: 'failed',
      reason: 'bad',
    });
    expect(itemOf(5, 'http://a.test/', { outcome: 'expired' })).toMatchObject({ status: 'failed' });
  });

  it('counts an item without a report under its status in the summary', () => {
    expect(verdictLineOf(refused).verdict).toMatchObject({ cause: 'refused', code: '-' });
  });

  it('builds every key of a batch with one hash tag, so one script touches one slot', () => {
    const keys = Object.values(batchKeys('reach-probes', 'b1'));
    expect(keys.length).toBeGreaterThanOrEqual(5);
    for (const key of keys) expect(key.startsWith('{reach-probes:batch:b1}:')).toBe(true);
  });
});
