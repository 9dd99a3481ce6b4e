// A service batch's items: their CSV rows in the CLI's columns, the cause read from a stored item, the keys of a batch.
import { describe, expect, it } from 'vitest';
import { causeOfStored } from '../../../src/batch/http/results.js';
import { type BatchItem, itemCsvRow, verdictLineOf } from '../../../src/batch/item.js';
import { itemOf } from '../../../src/batch/item-runner.js';
import { batchKeys } from '../../../src/batch/store.js';

const refused: BatchItem = {
  index: 2,
  url: 'http://10.0.0.1/',
  status: 'refused',
  cause: 'refused',
  reason: 'http://10.0.0.1/: a private address (RFC 1918)',
  address: '10.0.0.1',
};

describe('batch items', () => {
  it('writes an item without a report in the CLI’s ten CSV columns, its status as the cause', () => {
    expect(itemCsvRow(refused)).toBe(
      'http://10.0.0.1/,refused,,,http://10.0.0.1/: a private address (RFC 1918),,,,,',
    );
    expect(itemCsvRow(refused).split(',')).toHaveLength(10);
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
