// The waterfall's rows from recorded observations: which lanes a probe gets and how each row ended.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { classify } from '../../../src/diagnosis/classify.js';
import { renderResult } from '../../../src/pages/result.js';
import { waterfallRows } from '../../../src/pages/waterfall.js';
import type { Observations, Report } from '../../../src/types.js';

async function reportOf(name: string): Promise<Report> {
  const observations = JSON.parse(
    await readFile(new URL(`../../fixtures/observations/${name}.json`, import.meta.url), 'utf8'),
  ) as Observations;
  return {
    schemaVersion: 1,
    url: observations.target.url,
    startedAt: '2026-03-01T00:00:00.000Z',
    durationMs: 100,
    timeoutMs: 10_000,
    resolvers: [],
    target: observations.target,
    controls: observations.controls,
    verdict: classify(observations),
    warnings: [],
  };
}

describe('waterfallRows', () => {
  it('marks a reset after the request on the HTTP row and draws the differential requests', async () => {
    const rows = waterfallRows(await reportOf('filter-keyword-reset'));
    const http = rows.find((row) => row.section === 'http');
    expect(http?.end).toMatchObject({ kind: 'rst', words: 'RST after the request' });
    expect(rows.filter((row) => row.section === 'differential').length).toBeGreaterThanOrEqual(2);
    expect(rows.some((row) => row.section === 'dns')).toBe(true);
  });

  it('marks a name that does not exist on its DNS rows with the rcode, and a SERVFAIL the same way', async () => {
    const nxdomain = waterfallRows(await reportOf('dns-nxdomain-one-resolver')).filter(
      (row) => row.section === 'dns' && row.outcome.startsWith('nxdomain'),
    );
    expect(nxdomain.length).toBeGreaterThan(0);
    for (const row of nxdomain)
      expect(row.end).toMatchObject({
        kind: 'rcode',
        mark: 'NXDOMAIN',
        words: 'NXDOMAIN: the name does not exist',
      });
    const servfail = waterfallRows(await reportOf('dns-servfail')).find((row) =>
      row.outcome.startsWith('servfail'),
    );
    expect(servfail?.end).toMatchObject({ kind: 'rcode', mark: 'SERVFAIL' });
    const answered = waterfallRows(await reportOf('filter-keyword-reset')).filter(
      (row) => row.section === 'dns',
    );
    expect(answered.every((row) => row.end === undefined)).toBe(true);
  });

  it("marks a resolver's declared block as BLOCKED, not as a name that does not exist", async () => {
    const nxdomain = waterfallRows(await reportOf('dns-blocked-nxdomain-ede')).find(
      (row) => row.section === 'dns' && row.outcome.startsWith('nxdomain'),
    );
    expect(nxdomain?.end).toEqual({
      atMs: expect.any(Number),
      kind: 'rcode',
      mark: 'BLOCKED',
      words: 'NXDOMAIN: the resolver says it blocks the name (EDE 15 Blocked: gravity)',
    });
    const zero = waterfallRows(await reportOf('dns-blocked-zero-address-ede')).find(
      (row) => row.section === 'dns' && row.end?.mark === 'BLOCKED',
    );
    expect(zero?.end?.words).toBe('0.0.0.0: the resolver says it blocks the name (EDE 17 Filtered)');
  });

  it('gives every TCP attempt of a dual-stack name its own row, the one not used named as such', async () => {
    const report = await reportOf('tcp-dual-stack-ipv6-blackholed');
    const tcp = waterfallRows(report).filter((row) => row.section === 'tcp');
    expect(tcp).toHaveLength(report.target.tcp.length);
    expect(tcp.length).toBeGreaterThan(1);
    expect(tcp.some((row) => row.end?.kind === 'timeout' || row.outcome.includes('not'))).toBe(true);
  });

  it('draws each redirect hop and each control, and keeps every segment inside its row', async () => {
    const rows = waterfallRows(await reportOf('http-redirect-offsite-temporary'));
    expect(rows.filter((row) => row.section === 'redirect').length).toBeGreaterThan(0);
    const withControls = waterfallRows(await reportOf('tcp-net-unreachable-control-reachable'));
    expect(withControls.filter((row) => row.section === 'control').length).toBeGreaterThan(0);
    for (const row of [...rows, ...withControls])
      for (const segment of row.segments) expect(segment.toMs).toBeGreaterThanOrEqual(segment.fromMs);
  });

  it('renders the result escaped, with one lane and the evidence table', async () => {
    const report = await reportOf('filter-keyword-reset');
    const html = renderResult({ status: 'completed', report: { ...report, url: 'http://x/<script>' } });
    expect(html).not.toContain('<script>');
    expect(html.match(/class="lane"/g)).toHaveLength(1);
    expect(html).toContain('<table class="evidence">');
    expect(html).toContain('data-end="rst"');
  });
});
