// A monitor run from a report: warnings (a dead address next to a live one) reach the history, not the health.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classify } from '../../../src/diagnosis/classify.js';
import { warningsOf } from '../../../src/diagnosis/warnings.js';
import { historyEntrySchema } from '../../../src/monitor/records.js';
import { runResultOf } from '../../../src/monitor/run-result.js';
import type { Observations, Report } from '../../../src/types.js';

function reportOf(fixture: string): Report {
  const obs = JSON.parse(
    readFileSync(new URL(`../../fixtures/observations/${fixture}.json`, import.meta.url), 'utf8'),
  ) as Observations;
  return {
    schemaVersion: 1,
    url: obs.target.url,
    startedAt: '2026-11-25T08:55:00.000Z',
    durationMs: 2030,
    timeoutMs: 4000,
    resolvers: ['198.51.100.53:53'],
    target: obs.target,
    controls: obs.controls,
    verdict: classify(obs),
    warnings: warningsOf(obs.target),
  };
}

const context = { trigger: 'schedule', isMaintenance: false } as const;

describe('runResultOf', () => {
  it('keeps the warning codes of a run whose site answered over its other address, and stays up', () => {
    const { entry } = runResultOf(reportOf('tcp-dual-stack-ipv6-blackholed'), context);
    expect(entry).toMatchObject({ health: 'up', cause: 'ok', code: 'http.ok' });
    expect(entry.warnings).toEqual(['path.address_unreachable']);
    expect(historyEntrySchema.parse(entry)).toEqual(entry);
  });

  it('leaves warnings out of the history entry when the report has none', () => {
    const { entry } = runResultOf(reportOf('http-ok'), context);
    expect(entry.health).toBe('up');
    expect('warnings' in entry).toBe(false);
  });
});
