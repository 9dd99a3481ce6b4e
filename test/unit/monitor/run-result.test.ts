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

  it('keeps the certificate of an https redirect hop for a monitor of an http URL (expiry warnings read it)', () => {
    const { entry } = runResultOf(reportOf('tls-cert-chain-incomplete-redirect-hop'), context);
    expect(reportOf('tls-cert-chain-incomplete-redirect-hop').target.tls).toBeNull();
    expect(entry.certificateNotAfter).toBe('2026-12-31T15:00:55.000Z');
  });

  it('keeps the certificate that expires first when the URL and a hop each show one', () => {
    const report = reportOf('tls-cert-expired-redirect-hop');
    const hop = report.target.http?.hops.find((each) => each.exchange.tls?.certificate);
    const certificate = hop?.exchange.tls?.certificate;
    if (!certificate) throw new Error('the fixture has an https hop with a certificate');
    report.target.tls = {
      ...(hop?.exchange.tls as NonNullable<typeof report.target.tls>),
      certificate: { ...certificate, validTo: '2030-01-01T00:00:00.000Z' },
    };
    expect(runResultOf(report, context).entry.certificateNotAfter).toBe('2020-02-01T00:00:00.000Z');
    certificate.validTo = '2031-01-01T00:00:00.000Z';
    expect(runResultOf(report, context).entry.certificateNotAfter).toBe('2030-01-01T00:00:00.000Z');
  });

  it('leaves warnings out of the history entry when the report has none', () => {
    const { entry } = runResultOf(reportOf('http-ok'), context);
    expect(entry.health).toBe('up');
    expect('warnings' in entry).toBe(false);
  });
});
