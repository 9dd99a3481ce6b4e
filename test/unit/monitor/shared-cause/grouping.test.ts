// The grouping of runs into shared incidents, on recorded observations: thresholds, joining, opening, leaving,
// holding, and a site failing for its own reason left alone.
import { describe, expect, it } from 'vitest';
import { serviceVantage, sharedCausesOf } from '../../../../src/monitor/shared-cause/candidates.js';
import {
  groupRun,
  type SharedSettings,
  thresholdOf,
  type WindowState,
} from '../../../../src/monitor/shared-cause/grouping.js';
import { reportOfObservations } from '../../../support/observation-reports.js';

const settings: SharedSettings = {
  isEnabled: true,
  windowMs: 300_000,
  minMonitors: 3,
  minShare: 0.5,
  holdMs: 30_000,
};

const candidatesOf = (fixture: string) =>
  sharedCausesOf(reportOfObservations(fixture, 'https://example.test/'), serviceVantage);

function windowOf(
  fixture: string,
  counts: number[],
  extra: Partial<WindowState> & { openIds?: Array<string | undefined> } = {},
): WindowState {
  const { openIds = [], ...rest } = extra;
  return {
    monitorCount: 200,
    keys: candidatesOf(fixture).map((candidate, index) => ({
      key: candidate.key,
      observerCount: counts[index] ?? 1,
      ...(openIds[index] ? { openIncidentId: openIds[index] } : {}),
    })),
    ...rest,
  };
}

describe('thresholdOf', () => {
  it('asks a few monitors for a prober-side cause and a large share for a plain code', () => {
    expect(thresholdOf('local', 200, settings)).toBe(3);
    expect(thresholdOf('range', 4, settings)).toBe(2);
    expect(thresholdOf('code', 200, settings)).toBe(100);
    expect(thresholdOf('code', 2, settings)).toBe(3);
    expect(thresholdOf('local', 1, settings)).toBe(2);
  });
});

describe('groupRun', () => {
  it('holds the first local failures of a burst and opens the incident at the threshold', () => {
    const candidates = candidatesOf('local-controls-unreachable');
    expect(groupRun(candidates, windowOf('local-controls-unreachable', [1]), settings)).toEqual({
      isHeld: true,
    });
    expect(groupRun(candidates, windowOf('local-controls-unreachable', [2]), settings)).toEqual({
      isHeld: true,
    });
    expect(groupRun(candidates, windowOf('local-controls-unreachable', [3]), settings)).toEqual({
      isHeld: false,
      explainedBy: { kind: 'open', candidate: candidates[0] },
    });
  });

  it('joins the open incident of its cause', () => {
    const candidates = candidatesOf('dns-servfail');
    const state = windowOf('dns-servfail', [40, 40], { openIds: ['incident-1'] });
    expect(groupRun(candidates, state, settings).explainedBy).toEqual({
      kind: 'join',
      incidentId: 'incident-1',
      candidate: candidates[0],
    });
  });

  it('stays in its incident while it fails with the same cause', () => {
    const candidates = candidatesOf('filter-blackhole');
    const key = candidates[0]?.key ?? '';
    const state = windowOf('filter-blackhole', [5, 5], { membership: { incidentId: 'incident-2', key } });
    expect(groupRun(candidates, state, settings)).toEqual({
      explainedBy: { kind: 'stay', incidentId: 'incident-2', key },
      isHeld: false,
    });
  });

  it('leaves its incident when it is up again', () => {
    const state: WindowState = {
      monitorCount: 200,
      keys: [],
      membership: { incidentId: 'incident-3', key: 'local|@service' },
    };
    expect(groupRun([], state, settings)).toEqual({ leave: 'incident-3', isHeld: false });
  });

  it('leaves and alerts alone when a member fails for its own reason (HTTP 500 while others are local)', () => {
    const candidates = candidatesOf('http-server-error-500');
    const state = windowOf('http-server-error-500', [1], {
      membership: { incidentId: 'incident-4', key: 'local|@service' },
    });
    expect(groupRun(candidates, state, settings)).toEqual({ leave: 'incident-4', isHeld: false });
  });

  it('does not hold a plain code, and groups it only past the share', () => {
    const candidates = candidatesOf('http-server-error-500');
    expect(groupRun(candidates, windowOf('http-server-error-500', [99]), settings)).toEqual({
      isHeld: false,
    });
    expect(groupRun(candidates, windowOf('http-server-error-500', [100]), settings).explainedBy?.kind).toBe(
      'open',
    );
  });

  it('falls back to the plain code when the specific cause is below its threshold', () => {
    const candidates = candidatesOf('dns-servfail');
    const decision = groupRun(candidates, windowOf('dns-servfail', [1, 150]), settings);
    expect(decision.explainedBy).toEqual({ kind: 'open', candidate: candidates[1] });
  });
});
