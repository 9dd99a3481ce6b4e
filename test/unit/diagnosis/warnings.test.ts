// The warnings on recorded observations (test/fixtures/observations): a dead address next to a live one.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { warningsOf } from '../../../src/diagnosis/warnings.js';
import type { ConnectOutcome, Observations } from '../../../src/types.js';

const fixtureDir = new URL('../../fixtures/observations/', import.meta.url);

function load(name: string): Observations {
  return JSON.parse(readFileSync(new URL(`${name}.json`, fixtureDir), 'utf8')) as Observations;
}

describe('warningsOf', () => {
  it('warns that the IPv6 address of a dual-stack name did not answer while IPv4 carried the exchange', () => {
    const warnings = warningsOf(load('tcp-dual-stack-ipv6-blackholed').target);
    expect(warnings).toEqual([
      {
        code: 'path.address_unreachable',
        summary:
          'IPv6 address 2001:db8:113::10 did not answer; the site was reached over IPv4 203.0.113.10. Clients without Happy Eyeballs may hang.',
        evidence: [
          expect.stringMatching(/^tcp: 2001:db8:113::10:80 timeout \(ETIMEDOUT\) after \d/),
          expect.stringMatching(/^tcp: 203\.0\.113\.10:80 connected in /),
        ],
      },
    ]);
  });

  it('warns that one of two A records did not answer, naming what a client trying it first meets', () => {
    const [warning, ...rest] = warningsOf(load('tcp-two-addresses-one-blackholed').target);
    expect(rest).toEqual([]);
    expect(warning?.code).toBe('path.address_unreachable');
    expect(warning?.summary).toBe(
      'IPv4 address 203.0.113.66 did not answer; the site was reached over IPv4 203.0.113.10. Clients that try it first wait for their connect timeout before trying another address.',
    );
  });

  it('warns about an IPv6 address without a route from here next to an IPv4 address that connects', () => {
    const warnings = warningsOf(load('dns-dual-stack-ipv6-no-route').target);
    expect(warnings.map((warning) => warning.summary)).toEqual([
      'IPv6 address 2001:db8::10 is unreachable from here (ENETUNREACH); the site was reached over IPv4 203.0.113.10. Clients that try it first get an error unless they try the other addresses.',
    ]);
  });

  it("warns that a resolver answered from its cache (EDE 3 Stale Answer): the name's DNS is failing", () => {
    const observations = load('dns-stale-answer');
    const resolver = observations.target.dns?.resolvers[0]?.resolver;
    expect(warningsOf(observations.target)).toEqual([
      {
        code: 'dns.stale_answer',
        summary: `${resolver} answered stale.site-a.test from its cache (EDE 3 Stale Answer: "upstream unreachable"): the resolver could not reach the domain's name servers. The site works through the old answer, but its DNS is failing; when the cached answer runs out, or for resolvers that kept none, the name will not resolve.`,
        evidence: [
          expect.stringMatching(/ A stale\.site-a\.test → 127\.0\.0\.1 .*EDE 3 Stale Answer/),
          expect.stringMatching(/ AAAA stale\.site-a\.test → NOERROR .*EDE 3 Stale Answer/),
        ],
      },
    ]);
  });

  it('does not warn of a stale answer for a reply without one', () => {
    expect(warningsOf(load('http-ok').target).map((warning) => warning.code)).not.toContain(
      'dns.stale_answer',
    );
  });

  it('does not warn when no address connected: the verdict already names that failure', () => {
    expect(warningsOf(load('filter-blackhole').target)).toEqual([]);
    expect(warningsOf(load('tcp-refused').target)).toEqual([]);
  });

  it('does not warn for an address refused by policy or never tried before the deadline', () => {
    const { target } = load('tcp-two-addresses-one-blackholed');
    const notDead = (kind: 'refused_by_policy' | 'not_attempted'): ConnectOutcome => ({
      kind,
      address: '203.0.113.66',
      port: 80,
      family: 4,
      elapsedMs: 0,
    });
    for (const kind of ['refused_by_policy', 'not_attempted'] as const) {
      const tcp = target.tcp.map((outcome) => (outcome.kind === 'timeout' ? notDead(kind) : outcome));
      expect(warningsOf({ ...target, tcp })).toEqual([]);
    }
  });

  it('finds no warning in any other recorded fixture with a single address', () => {
    const names = readdirSync(fixtureDir)
      .filter(
        (file) =>
          file.endsWith('.json') &&
          !file.startsWith('http-page-differs-') &&
          file !== 'dns-stale-answer.json',
      )
      .map((file) => file.replace(/\.json$/, ''));
    for (const name of names) {
      const { target } = load(name);
      if (new Set(target.tcp.map((outcome) => outcome.address)).size > 1) continue;
      expect(warningsOf(target), name).toEqual([]);
    }
  });

  it('warns that a page lacks the Server header the same server sends for a neutral Host, without a filter claim', () => {
    const warnings = warningsOf(load('http-page-differs-server-header').target);
    expect(warnings).toEqual([
      {
        code: 'http.page_differs',
        summary: expect.stringMatching(
          /^The page for news\.example\.test from 203\.0\.113\.10 differs from the server's other answers: it lacks the Server header .*This alone does not show a filter/,
        ),
        evidence: expect.arrayContaining([
          expect.stringContaining('lacks Server, which the same server'),
          expect.stringMatching(/^replay: .*nothing after it$/),
        ]),
      },
    ]);
  });

  it("warns that another resolver's address serves another page for the name", () => {
    const [warning, ...rest] = warningsOf(load('http-page-differs-elsewhere').target);
    expect(rest).toEqual([]);
    expect(warning?.summary).toContain(
      '203.0.113.10, an address another resolver gives, serves another page (200)',
    );
  });

  it('gives no page warning for a vhost that differs from the default page, nor where the verdict names a forged page', () => {
    for (const name of [
      'http-vhost-differs-from-neutral',
      'filter-forged-page',
      'filter-injected-response',
    ]) {
      expect(warningsOf(load(name).target), name).toEqual([]);
    }
  });
});
