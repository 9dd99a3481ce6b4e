// What a channel says of a shared incident, and how long a site's alert waits for one.
import { describe, expect, it } from 'vitest';
import type { AlertPayload } from '../../../../src/monitor/alerting/alerts.js';
import { messageTextOf, plainTextOf } from '../../../../src/monitor/alerting/message.js';
import { alertHoldOf } from '../../../../src/monitor/consequences.js';
import { type Decision, initialStatus, type MonitorStatus } from '../../../../src/monitor/state-machine.js';

function sharedPayload(event: 'shared_incident.opened' | 'shared_incident.resolved'): AlertPayload {
  const isResolved = event === 'shared_incident.resolved';
  return {
    event,
    id: 'S-opened',
    monitor: {
      id: 'S',
      name: 'Resolver 192.0.2.53:53 fails for every name (dns.servfail)',
      url: '',
      tags: [],
    },
    oldState: isResolved ? 'down' : 'up',
    newState: isResolved ? 'up' : 'down',
    changedAt: '2026-11-30T11:00:00.000Z',
    cause: 'dns_failure',
    code: 'dns.servfail',
    summary: 'The resolvers fail to resolve the name.',
    incident: { id: 'S', url: 'https://status.example/status#incident-S' },
    links: { monitor: 'https://status.example/incidents/S', status: 'https://status.example/status' },
    shared: {
      kind: 'resolver',
      vantage: '@service',
      resolvers: ['192.0.2.53:53'],
      openedAt: '2026-11-30T11:00:00.000Z',
      ...(isResolved ? { resolvedAt: '2026-11-30T11:20:00.000Z' } : {}),
      monitorCount: 42,
      monitors: [
        { id: 'a', name: 'Shop', url: 'https://shop.example/' },
        { id: 'b', name: 'Blog', url: 'https://blog.example/' },
      ],
    },
  };
}

describe('the message of a shared incident', () => {
  it('says the cause, code, resolver, vantage, since when and how many monitors, with the link', () => {
    const text = messageTextOf(sharedPayload('shared_incident.opened'));
    expect(text.title).toBe('Resolver 192.0.2.53:53 fails for every name (dns.servfail) (42 monitors)');
    expect(text.severity).toBe('critical');
    expect(text.isResolution).toBe(false);
    expect(text.dedupKey).toBe('reach-shared-S');
    expect(plainTextOf(text, { isTitleIncluded: false })).toBe(
      [
        'The resolvers fail to resolve the name.',
        '',
        'Cause: dns_failure',
        'Code: dns.servfail',
        'Seen from: this service',
        'Resolver: 192.0.2.53:53',
        'Since: 2026-11-30T11:00:00.000Z',
        'Monitors affected: 42 monitors',
        'Monitors: Shop, Blog, …',
        'Incident S: https://status.example/status#incident-S',
      ].join('\n'),
    );
  });

  it('resolves under the same dedup key', () => {
    const text = messageTextOf(sharedPayload('shared_incident.resolved'));
    expect(text).toMatchObject({ isResolution: true, severity: 'info', dedupKey: 'reach-shared-S' });
    expect(text.title.startsWith('Resolved: ')).toBe(true);
  });
});

function decisionTo(to: 'down' | 'up', status: MonitorStatus): Decision {
  return {
    status: { ...status },
    isApplied: true,
    change: { from: to === 'down' ? 'up' : 'down', to, atMs: 1000, isAlerted: true },
    isRecheckWanted: false,
  };
}

describe('alertHoldOf', () => {
  const current = initialStatus(0);

  it('holds a failure alert with a prober-side cause and remembers until when', () => {
    const decision = decisionTo('down', current);
    expect(alertHoldOf(current, decision, { isHeld: true, holdMs: 30_000, nowMs: 5000 })).toBe(35_000);
    expect(decision.status.alertHeldUntilMs).toBe(35_000);
  });

  it('sends a failure alert at once when nothing is held or the hold is off', () => {
    expect(
      alertHoldOf(current, decisionTo('down', current), { isHeld: false, holdMs: 30_000, nowMs: 1 }),
    ).toBe(undefined);
    expect(alertHoldOf(current, decisionTo('down', current), { isHeld: true, holdMs: 0, nowMs: 1 })).toBe(
      undefined,
    );
  });

  it('holds a recovery as long as the failure alert before it still waits, and not after', () => {
    const held: MonitorStatus = { ...current, alertHeldUntilMs: 35_000 };
    expect(alertHoldOf(held, decisionTo('up', held), { isHeld: false, holdMs: 30_000, nowMs: 20_000 })).toBe(
      35_000,
    );
    const decision = decisionTo('up', held);
    expect(alertHoldOf(held, decision, { isHeld: false, holdMs: 30_000, nowMs: 40_000 })).toBeUndefined();
    expect(decision.status.alertHeldUntilMs).toBeUndefined();
  });
});
