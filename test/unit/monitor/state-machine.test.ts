// The monitor state machine on sequences of runs: confirmations, re-checks, incidents, maintenance.
import { describe, expect, it } from 'vitest';
import type { RunHealth } from '../../../src/monitor/run-result.js';
import {
  decide,
  initialStatus,
  type MonitorStatus,
  type RunInput,
} from '../../../src/monitor/state-machine.js';

const causes: Record<RunHealth, { cause: string; code: string }> = {
  up: { cause: 'ok', code: 'http.ok' },
  degraded: { cause: 'overload', code: 'http.unavailable' },
  down: { cause: 'server_fault', code: 'tcp.refused' },
};

let clockMs = 1_000_000;
function run(health: RunHealth, isMaintenance = false): RunInput {
  clockMs += 1000;
  const { cause, code } = causes[health];
  return {
    startedAtMs: clockMs,
    health,
    isMaintenance,
    cause,
    code,
    summary: `${cause} summary`,
    lastRun: {
      at: new Date(clockMs).toISOString(),
      health,
      isMaintenance,
      cause,
      code,
      summary: '',
      durationMs: 5,
      phasesMs: {},
    },
  };
}

function play(
  healths: Array<RunHealth | 'maintenance'>,
  confirmations = 2,
  start: MonitorStatus = initialStatus(0),
) {
  let status = start;
  let incidentNumber = 0;
  return healths.map((health) => {
    incidentNumber += 1;
    const decision = decide(status, health === 'maintenance' ? run('down', true) : run(health), {
      confirmations,
      newIncidentId: `incident-${incidentNumber}`,
    });
    status = decision.status;
    return decision;
  });
}

describe('decide', () => {
  it('goes up on the first good run without alerting (nothing changed for anyone)', () => {
    const [first] = play(['up']);
    expect(first?.status.state).toBe('up');
    expect(first?.change).toMatchObject({ from: 'pending', to: 'up', isAlerted: false });
  });

  it('asks for a re-check on an unconfirmed failure and keeps the state', () => {
    const [, failed] = play(['up', 'down']);
    expect(failed?.status.state).toBe('up');
    expect(failed?.isRecheckWanted).toBe(true);
    expect(failed?.change).toBeUndefined();
    expect(failed?.incident).toBeUndefined();
  });

  it('ignores a single lost check: one failure then success raises nothing', () => {
    const decisions = play(['up', 'down', 'up']);
    expect(decisions.map((decision) => decision.status.state)).toEqual(['up', 'up', 'up']);
    expect(decisions.slice(1).some((decision) => decision.change !== undefined)).toBe(false);
  });

  it('goes down after exactly `confirmations` consecutive failures, opening an incident and alerting', () => {
    const decisions = play(['up', 'down', 'down', 'down'], 3);
    expect(decisions.map((decision) => decision.status.state)).toEqual(['up', 'up', 'up', 'down']);
    expect(decisions.map((decision) => decision.isRecheckWanted)).toEqual([false, true, true, false]);
    expect(decisions[3]?.change).toMatchObject({ from: 'up', to: 'down', isAlerted: true });
    expect(decisions[3]?.incident).toEqual({ kind: 'open', incidentId: 'incident-4' });
    expect(decisions[3]?.status.openIncidentId).toBe('incident-4');
  });

  it('counts degraded and down runs together as failures and lands on the last one', () => {
    const decisions = play(['up', 'degraded', 'down']);
    expect(decisions[2]?.status.state).toBe('down');
  });

  it('marks degraded without an incident, since the site still answers', () => {
    const decisions = play(['up', 'degraded', 'degraded']);
    expect(decisions[2]?.status.state).toBe('degraded');
    expect(decisions[2]?.incident).toBeUndefined();
  });

  it('records verdicts on the open incident while it lasts and resolves it on recovery', () => {
    const decisions = play(['up', 'down', 'down', 'degraded', 'up']);
    expect(decisions[3]?.status.state).toBe('degraded');
    expect(decisions[3]?.incident).toEqual({ kind: 'record', incidentId: 'incident-3' });
    expect(decisions[4]?.change).toMatchObject({ from: 'degraded', to: 'up', isAlerted: true });
    expect(decisions[4]?.incident).toEqual({ kind: 'resolve', incidentId: 'incident-3' });
    expect(decisions[4]?.status.openIncidentId).toBeUndefined();
  });

  it('enters maintenance without alerting and leaves it quietly when the site is up', () => {
    const decisions = play(['up', 'maintenance', 'maintenance', 'up']);
    expect(decisions[1]?.change).toMatchObject({ to: 'maintenance', isAlerted: false });
    expect(decisions[1]?.isRecheckWanted).toBe(false);
    expect(decisions[2]?.change).toBeUndefined();
    expect(decisions[3]?.change).toMatchObject({ from: 'maintenance', to: 'up', isAlerted: false });
  });

  it('alerts when the site is still down once maintenance ends, after the confirmations', () => {
    const decisions = play(['up', 'maintenance', 'down', 'down']);
    expect(decisions[2]?.status.state).toBe('maintenance');
    expect(decisions[3]?.change).toMatchObject({ from: 'maintenance', to: 'down', isAlerted: true });
  });

  it('keeps a run that started before the newest applied one out of the state', () => {
    const [first] = play(['up']);
    const stale = run('down');
    stale.startedAtMs = (first?.status.lastStartedAtMs ?? 0) - 1;
    const decision = decide(first?.status ?? initialStatus(0), stale, {
      confirmations: 1,
      newIncidentId: 'x',
    });
    expect(decision.isApplied).toBe(false);
    expect(decision.status).toBe(first?.status);
  });

  it('bumps the version on every applied run so writes can compare-and-set', () => {
    const decisions = play(['up', 'down', 'up']);
    expect(decisions.map((decision) => decision.status.version)).toEqual([1, 2, 3]);
  });
});
