// The comparison of vantages on recorded observations: each vantage's report is one of the recorded
// single-vantage fixtures (test/fixtures/observations), combined as test/fixtures/vantages says.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compareRules, compareVantages } from '../../../src/diagnosis/compare.js';
import type { Cause, VantageResult, VantageStatus, Verdict } from '../../../src/types.js';
import { reportOfObservations } from '../../support/observation-reports.js';

const vantagesDir = new URL('../../fixtures/vantages/', import.meta.url);

interface VantageFixture {
  url: string;
  vantages: Array<{
    name: string;
    labels: Record<string, string>;
    status: VantageStatus;
    observations?: string;
    reason?: string;
  }>;
}

const reportOf = reportOfObservations;

function compare(fixture: string): Verdict {
  const data = JSON.parse(readFileSync(new URL(`${fixture}.json`, vantagesDir), 'utf8')) as VantageFixture;
  const vantages: VantageResult[] = data.vantages.map((vantage) => ({
    name: vantage.name,
    labels: vantage.labels,
    status: vantage.status,
    ...(vantage.observations ? { report: reportOf(vantage.observations, data.url) } : {}),
    ...(vantage.reason ? { reason: vantage.reason } : {}),
  }));
  return compareVantages({ url: data.url, vantages });
}

interface Expectation {
  fixture: string;
  behaviour: string;
  cause: Cause;
  code: string;
  rule: string;
  summary?: RegExp[];
  confidence?: (value: number) => void;
}

const expectations: Expectation[] = [
  {
    fixture: 'keyword-reset-one-path',
    behaviour: 'localizes a keyword reset seen from one vantage while two others reach the site',
    cause: 'filtered_path',
    code: 'filter.keyword_reset',
    rule: 'localized',
    summary: [/^Reachable from isp-b, campus; from isp-a/, /on the path from there, not at the site/],
  },
  {
    fixture: 'dns-blocked-one-vantage',
    behaviour:
      "keeps one vantage's declared DNS block (0.0.0.0 with EDE 17) a filter.dns_blocked, not inferred tampering",
    cause: 'filtered_path',
    code: 'filter.dns_blocked',
    rule: 'localized',
    summary: [/^Reachable from isp-b; from isp-a: The resolver .* says it blocks family\.site-a\.test/],
  },
  {
    fixture: 'keyword-reset-everywhere',
    behaviour: "calls a reset for one name seen from every vantage the server's own doing, not a filter",
    cause: 'server_fault',
    code: 'http.reset',
    rule: 'same-everywhere',
    summary: [/Down from all 3 vantages/, /is the site itself/],
  },
  {
    fixture: 'forged-page-everywhere',
    behaviour: "calls a page that looks forged from every vantage the site's own page: ok, not a filter",
    cause: 'ok',
    code: 'http.ok',
    rule: 'same-everywhere',
    summary: [/reachable from all 2 vantages/, /the site's own page/],
  },
  {
    fixture: 'keyword-drop-everywhere',
    behaviour:
      'calls a name-specific drop seen from every vantage an overloaded or hung backend, not a filter',
    cause: 'overload',
    code: 'http.timeout',
    rule: 'same-everywhere',
  },
  {
    fixture: 'blackhole-one-path',
    behaviour: 'localizes dropped SYNs on one path',
    cause: 'filtered_path',
    code: 'filter.blackhole',
    rule: 'localized',
    summary: [/^Reachable from isp-b; from isp-a/],
  },
  {
    fixture: 'lying-resolver-one-vantage',
    behaviour: 'localizes a vantage whose resolver is tampered with, while another vantage reaches the site',
    cause: 'filtered_path',
    code: 'dns.tampered',
    rule: 'localized',
  },
  {
    fixture: 'lying-resolver-alone-one-vantage',
    behaviour:
      "calls a bogon from a vantage's only resolver tampering once another vantage reaches the site (found in the network lab)",
    cause: 'filtered_path',
    code: 'dns.tampered',
    rule: 'localized',
    summary: [
      /^Reachable from isp-b; from isp-a: the name resolves only to 127\.0\.0\.1, a private or reserved address/,
    ],
  },
  {
    fixture: 'one-vantage-own-network-broken',
    behaviour: 'takes a vantage whose own network fails out of the vote and lets the others decide',
    cause: 'server_fault',
    code: 'tcp.refused',
    rule: 'same-everywhere',
    summary: [/Down from all 2 vantages \(isp-a, isp-b\)/],
  },
  {
    fixture: 'one-vantage-lost',
    behaviour: 'decides from the vantages that completed, with less confidence for the lost one',
    cause: 'server_fault',
    code: 'http.server_error',
    rule: 'same-everywhere',
    confidence: (value) => expect(value).toBeLessThan(0.85),
  },
  {
    fixture: 'all-lost',
    behaviour: 'says nothing about the site when no vantage completed',
    cause: 'local_network',
    code: 'vantage.none_completed',
    rule: 'no-vantage-voted',
  },
  {
    fixture: 'mixed-failures',
    behaviour: 'lets the most common failure decide when every vantage fails differently',
    cause: 'server_fault',
    code: 'tcp.refused',
    rule: 'mixed-failures',
  },
];

describe('compareVantages on recorded observations', () => {
  for (const expected of expectations) {
    it(expected.behaviour, () => {
      const verdict = compare(expected.fixture);
      expect({ cause: verdict.cause, code: verdict.code, rule: verdict.rule }).toEqual({
        cause: expected.cause,
        code: expected.code,
        rule: expected.rule,
      });
      for (const pattern of expected.summary ?? []) expect(verdict.summary).toMatch(pattern);
      expected.confidence?.(verdict.confidence);
      expect(verdict.evidence.some((line) => line.startsWith('vantage '))).toBe(true);
    });
  }

  it('raises confidence with agreement and lowers it for lost vantages', () => {
    const agreeing = (count: number, lost = 0) =>
      compareVantages({
        url: 'http://www.example.test/',
        vantages: [
          ...Array.from({ length: count }, (_, index) => ({
            name: `v${index}`,
            labels: {},
            status: 'completed' as const,
            report: reportOf('http-server-error-500', 'http://www.example.test/'),
          })),
          ...Array.from({ length: lost }, (_, index) => ({
            name: `lost${index}`,
            labels: {},
            status: 'lost' as const,
          })),
        ],
      }).confidence;
    expect(agreeing(3)).toBeGreaterThan(agreeing(2));
    expect(agreeing(2)).toBeGreaterThan(agreeing(1));
    expect(agreeing(2, 1)).toBeLessThan(agreeing(2));
  });

  it('exercises every comparison rule with at least one fixture', () => {
    const used = new Set(expectations.map((expected) => expected.rule));
    expect(compareRules.map((rule) => rule.name).filter((name) => !used.has(name))).toEqual([]);
    const onDisk = readdirSync(vantagesDir)
      .map((file) => file.replace(/\.json$/, ''))
      .sort();
    expect(onDisk).toEqual(expectations.map((expected) => expected.fixture).sort());
  });
});
