// The shared causes of a report, read from recorded observations: the cause and code, the resolvers that failed,
// the address ranges that did not answer.
import { describe, expect, it } from 'vitest';
import {
  describeSharedCause,
  rangeOf,
  serviceVantage,
  sharedCausesOf,
} from '../../../../src/monitor/shared-cause/candidates.js';
import { reportOfObservations } from '../../../support/observation-reports.js';

const candidatesOf = (fixture: string, vantage = serviceVantage) =>
  sharedCausesOf(reportOfObservations(fixture, 'https://example.test/'), vantage);

describe('sharedCausesOf', () => {
  it('groups every local_network code under one local cause of the vantage, held as prober-side', () => {
    for (const fixture of ['local-controls-unreachable', 'local-no-route-dns', 'local-captive-portal']) {
      expect(candidatesOf(fixture, 'fra')).toEqual([
        expect.objectContaining({ kind: 'local', key: 'local|fra', vantage: 'fra', isProberSide: true }),
      ]);
    }
  });

  it('names the failing resolvers of a SERVFAIL, then the plain code', () => {
    const [resolver, generic] = candidatesOf('dns-servfail');
    expect(resolver).toMatchObject({ kind: 'resolver', code: 'dns.servfail', isProberSide: true });
    expect(resolver?.resolvers?.length).toBeGreaterThan(0);
    expect(resolver?.key).toBe(`resolver|${serviceVantage}|dns.servfail|${resolver?.resolvers?.join('|')}`);
    expect(generic).toMatchObject({ kind: 'code', key: `code|${serviceVantage}|dns_failure|dns.servfail` });
  });

  it('puts a blackholed address under its /24, and a timeout too', () => {
    const blackhole = candidatesOf('filter-blackhole');
    expect(blackhole[0]).toMatchObject({ kind: 'range', code: 'filter.blackhole', isProberSide: true });
    expect(blackhole[0]?.range).toMatch(/\.0\/24$|::\/48$/);
    expect(blackhole.at(-1)?.kind).toBe('code');
    expect(candidatesOf('tcp-timeout-no-control')[0]?.kind).toBe('range');
  });

  it('gives a site failing for its own reason only the plain code, not held', () => {
    expect(candidatesOf('http-server-error-500')).toEqual([
      expect.objectContaining({ kind: 'code', code: 'http.server_error', isProberSide: false }),
    ]);
  });

  it('has no shared cause for a working site', () => {
    expect(candidatesOf('http-ok')).toEqual([]);
  });
});

describe('rangeOf', () => {
  it('takes the /24 of IPv4 and the /48 of IPv6, whatever the notation', () => {
    expect(rangeOf('203.0.113.77')).toBe('203.0.113.0/24');
    expect(rangeOf('2001:db8:1:2::5')).toBe('2001:db8:1::/48');
    expect(rangeOf('2001:0db8:0001:0002:0000:0000:0000:0005')).toBe('2001:db8:1::/48');
    expect(rangeOf('2001:db8::1')).toBe('2001:db8:0::/48');
    expect(rangeOf('example.test')).toBeUndefined();
  });
});

describe('describeSharedCause', () => {
  it('says what is shared and where it was seen', () => {
    expect(
      describeSharedCause({
        kind: 'resolver',
        vantage: serviceVantage,
        cause: 'dns_failure',
        code: 'dns.servfail',
        resolvers: ['192.0.2.53:53'],
      }),
    ).toBe('Resolver 192.0.2.53:53 fails for every name (dns.servfail), seen from this service');
  });
});
