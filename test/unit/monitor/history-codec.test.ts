// The run record of the history ring: every field it keeps reads back exactly, what it cannot hold is flagged,
// and the persisted ids of causes and codes only ever grow at their end.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verdictCodes } from '../../../src/diagnosis/codes.js';
import {
  decodeRecord,
  encodeRun,
  entryOfRecord,
  flagBits,
  recordBytes,
  storedCauseTable,
  storedCodeTable,
} from '../../../src/monitor/history/codec.js';
import type { HistoryEntry } from '../../../src/monitor/records.js';
import { causes } from '../../../src/types.js';

const persisted = JSON.parse(
  readFileSync(new URL('../../fixtures/history-record-ids.json', import.meta.url), 'utf8'),
) as { causes: string[]; codes: string[] };

function entry(overrides: Partial<HistoryEntry> = {}): HistoryEntry {
  return {
    at: '2026-11-30T10:00:00.123Z',
    scheduledAt: '2026-11-30T10:00:00.000Z',
    trigger: 'schedule',
    health: 'down',
    isMaintenance: false,
    cause: 'server_fault',
    code: 'http.server_error',
    status: 503,
    durationMs: 1234,
    phasesMs: { connect: 0.4, processing: 12.5 },
    ...overrides,
  };
}

describe('history run records', () => {
  it('reads back start, schedule lag, trigger, health, maintenance, cause, code, status and duration exactly', () => {
    const cases: HistoryEntry[] = [
      entry(),
      entry({ trigger: 'recheck', health: 'up', cause: 'ok', code: 'http.ok', status: 200, durationMs: 0 }),
      entry({ trigger: 'manual', scheduledAt: undefined, health: 'degraded', cause: 'overload' }),
      entry({ isMaintenance: true, status: undefined, durationMs: 4_194_303 }),
      // A tick run before its time (clocks of two machines apart) keeps its negative lag.
      entry({ scheduledAt: '2026-11-30T10:00:05.000Z' }),
    ];
    for (const run of cases) {
      const record = encodeRun(run);
      expect(record.length).toBe(recordBytes);
      expect((record[9] ?? 0) & flagBits.mustKeep).toBe(0);
      const { phasesMs: _phases, ...expected } = run;
      const decoded = entryOfRecord(decodeRecord(record, 0));
      expect(decoded).toEqual({
        ...Object.fromEntries(Object.entries(expected).filter(([, value]) => value !== undefined)),
        phasesMs: {},
      });
    }
  });

  it('marks a run the record cannot hold exactly, so its whole entry is kept', () => {
    const cases: HistoryEntry[] = [
      entry({ code: 'future.code' }),
      entry({ cause: 'future_cause' }),
      entry({ durationMs: 12.5 }),
      entry({ durationMs: 4_194_304 }),
      entry({ status: 1024 }),
      entry({ scheduledAt: '2026-11-29T00:00:00.000Z' }),
      entry({ status: 0 }),
    ];
    for (const run of cases) expect((encodeRun(run)[9] ?? 0) & flagBits.mustKeep).toBe(flagBits.mustKeep);
  });

  it('gives a different fingerprint when the warnings, vantages or certificate change', () => {
    const base = encodeRun(entry())[16];
    expect(encodeRun(entry({ warnings: ['path.address_unreachable'] }))[16]).not.toBe(base);
    expect(encodeRun(entry({ certificateNotAfter: '2027-01-01T00:00:00.000Z' }))[16]).not.toBe(base);
    expect(encodeRun(entry({ phasesMs: { connect: 99 } }))[16]).toBe(base);
  });

  it('has an id for every verdict code and cause', () => {
    for (const code of Object.keys(verdictCodes)) expect(storedCodeTable).toContain(code);
    for (const cause of [...causes, 'refused']) expect(storedCauseTable).toContain(cause);
    for (const code of ['vantage.below_quorum', 'vantage.none_live', 'policy.refused', 'input.invalid'])
      expect(storedCodeTable).toContain(code);
    expect(storedCodeTable.length).toBeLessThanOrEqual(256);
  });

  it('keeps the ids already written: the tables only grow at their end', () => {
    expect(storedCauseTable.slice(0, persisted.causes.length)).toEqual(persisted.causes);
    expect(storedCodeTable.slice(0, persisted.codes.length)).toEqual(persisted.codes);
  });
});
