// Which webhook deliveries may start: per-destination limits, a slow lane for retries and failing receivers.
import { describe, expect, it } from 'vitest';
import { DeliveryLanes, destinationOf } from '../../../../src/monitor/alerting/delivery-lanes.js';

function lanes(concurrency = 8, perDestination = 2) {
  let nowMs = 0;
  const clock = {
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
  return {
    lanes: new DeliveryLanes({ concurrency, perDestination, suspectForMs: 1000 }, () => nowMs),
    clock,
  };
}

describe('DeliveryLanes', () => {
  it('lets a destination hold perDestination slots and gives one back on release', () => {
    const { lanes: subject } = lanes();
    const first = subject.acquire('http://a:80', false);
    expect(subject.acquire('http://a:80', false)).toBeDefined();
    expect(subject.acquire('http://a:80', false)).toBeUndefined();
    expect(subject.acquire('http://b:80', false)).toBeDefined();
    first?.release();
    first?.release(); // a second release gives nothing back twice
    expect(subject.acquire('http://a:80', false)).toBeDefined();
    expect(subject.acquire('http://a:80', false)).toBeUndefined();
  });

  it('keeps retries to half the slots, so first attempts to healthy receivers always find room', () => {
    const { lanes: subject } = lanes(8, 2);
    const retries = ['a', 'b', 'c', 'd', 'e'].map((host) => subject.acquire(`http://${host}:80`, true));
    expect(retries.filter(Boolean)).toHaveLength(4);
    expect(retries[4]).toBeUndefined();
    expect(subject.acquire('http://fresh:80', false)?.isSlow).toBe(false);
  });

  it('puts a destination whose last attempt failed in the slow lane with one slot, until it delivers or time passes', () => {
    const { lanes: subject, clock } = lanes(8, 4);
    subject.recordOutcome('http://a:80', false);
    const lease = subject.acquire('http://a:80', false);
    expect(lease?.isSlow).toBe(true);
    expect(subject.acquire('http://a:80', false)).toBeUndefined();
    lease?.release();
    subject.recordOutcome('http://a:80', true);
    expect(subject.acquire('http://a:80', false)?.isSlow).toBe(false);
    subject.recordOutcome('http://b:80', false);
    clock.advance(1001);
    expect(subject.acquire('http://b:80', false)?.isSlow).toBe(false);
  });
});

describe('destinationOf', () => {
  it('keeps scheme, host and port, never the path or query that may carry a token', () => {
    expect(destinationOf('https://hooks.example.test/services/T0/B0/secret?token=x')).toBe(
      'https://hooks.example.test:443',
    );
    expect(destinationOf('http://[2001:db8::1]:8080/a')).toBe('http://[2001:db8::1]:8080');
    expect(destinationOf('not a url')).toBe('invalid-url');
  });
});
