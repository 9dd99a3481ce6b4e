// Certificate expiry warnings: once per threshold per certificate, never a state, started over on renewal.
import { describe, expect, it } from 'vitest';
import { checkCertificate, daysLeftOf } from '../../../src/monitor/certificate-expiry.js';

const dayMs = 86_400_000;
const nowMs = Date.parse('2026-11-30T08:00:00Z');
const inDays = (days: number) => new Date(nowMs + days * dayMs + 60_000).toISOString();
const thresholds = [14, 3];

describe('checkCertificate', () => {
  it('says nothing while the certificate has more days left than every threshold', () => {
    expect(checkCertificate(inDays(30), nowMs, thresholds, undefined, false)).toEqual({ state: undefined });
  });

  it('warns once on crossing 14 days, then again only on crossing 3', () => {
    const first = checkCertificate(inDays(13), nowMs, thresholds, undefined, false);
    expect(first.warning).toEqual({ notAfter: inDays(13), thresholdDays: 14, daysLeft: 13 });
    const again = checkCertificate(inDays(13), nowMs + dayMs, thresholds, first.state, false);
    expect(again.warning).toBeUndefined();
    const late = checkCertificate(inDays(13), nowMs + 10 * dayMs, thresholds, again.state, false);
    expect(late.warning).toMatchObject({ thresholdDays: 3, daysLeft: 3 });
    expect(
      checkCertificate(inDays(13), nowMs + 11 * dayMs, thresholds, late.state, false).warning,
    ).toBeUndefined();
  });

  it('sends only the nearest threshold when a certificate is first seen already close to expiry', () => {
    const check = checkCertificate(inDays(2), nowMs, thresholds, undefined, false);
    expect(check.warning).toMatchObject({ thresholdDays: 3, daysLeft: 2 });
  });

  it('starts over when the certificate is renewed', () => {
    const warned = { notAfter: inDays(2), warnedDays: 3 };
    const renewed = checkCertificate(inDays(90), nowMs, thresholds, warned, false);
    expect(renewed).toEqual({ state: undefined });
    const renewedShort = checkCertificate(inDays(10), nowMs, thresholds, warned, false);
    expect(renewedShort.warning).toMatchObject({ thresholdDays: 14 });
  });

  it('keeps what it knew through a run without a certificate and through maintenance', () => {
    const warned = { notAfter: inDays(10), warnedDays: 14 };
    expect(checkCertificate(undefined, nowMs, thresholds, warned, false)).toEqual({ state: warned });
    expect(checkCertificate(inDays(2), nowMs, thresholds, warned, true)).toEqual({ state: warned });
  });
});

describe('daysLeftOf', () => {
  it('counts whole days, negative once expired', () => {
    expect(daysLeftOf(inDays(5), nowMs)).toBe(5);
    expect(daysLeftOf(new Date(nowMs - dayMs / 2).toISOString(), nowMs)).toBe(-1);
  });
});
