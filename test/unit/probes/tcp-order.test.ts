// The order Happy Eyeballs tries addresses in (RFC 8305 section 4) and how long stragglers may run.
import { describe, expect, it } from 'vitest';
import { happyEyeballsOrder, stragglerTimeoutMs } from '../../../src/probes/tcp.js';

describe('happyEyeballsOrder', () => {
  it('starts with IPv6 and interleaves the families, each keeping its own order', () => {
    expect(
      happyEyeballsOrder(['203.0.113.10', '203.0.113.11', '2001:db8::10', '2001:db8::11', '2001:db8::12']),
    ).toEqual(['2001:db8::10', '203.0.113.10', '2001:db8::11', '203.0.113.11', '2001:db8::12']);
  });

  it('keeps a single family in its order and drops duplicates', () => {
    expect(happyEyeballsOrder(['203.0.113.66', '203.0.113.10', '203.0.113.66'])).toEqual([
      '203.0.113.66',
      '203.0.113.10',
    ]);
  });
});

describe('stragglerTimeoutMs', () => {
  it('gives attempts still running at least 2 s, or ten times the winner round trip when that is longer', () => {
    expect(stragglerTimeoutMs(1.2)).toBe(2000);
    expect(stragglerTimeoutMs(350)).toBe(3500);
  });
});
