// The state machine when a shared incident explains a monitor's failure: no incident of its own, no alert, a
// quiet recovery, and news again when the monitor fails for a reason of its own.
import { describe, expect, it } from 'vitest';
import type { RunHealth } from '../../../../src/monitor/run-result.js';
import {
  type DecideOptions,
  decide,
  initialStatus,
  type MonitorStatus,
  type RunInput,
} from '../../../../src/monitor/state-machine.js';

let clockMs = 1_000_000;
function run(health: RunHealth): RunInput {
  clockMs += 1000;
  const cause = health === 'up' ? 'ok' : 'local_network';
  const code = health === 'up' ? 'http.ok' : 'local.controls_unreachable';
  return {
    startedAtMs: clockMs,
    health,
    isMaintenance: false,
    cause,
    code,
    summary: '',
    lastRun: { at: '', health, isMaintenance: false, cause, code, summary: '', durationMs: 1, phasesMs: {} },
  };
}

const options = (extra: Partial<DecideOptions> = {}): DecideOptions => ({
  confirmations: 1,
  newIncidentId: `incident-${clockMs}`,
  ...extra,
});

function upStatus(): MonitorStatus {
  return decide(initialStatus(0), run('up'), options()).status;
}

describe('decide with a shared incident', () => {
  it('goes down without an incident of its own or an alert when a shared incident explains the failure', () => {
    const decision = decide(
      upStatus(),
      run('down'),
      options({ shared: { kind: 'explained', incidentId: 'S' } }),
    );
    expect(decision.status).toMatchObject({ state: 'down', sharedIncidentId: 'S' });
    expect(decision.status.openIncidentId).toBeUndefined();
    expect(decision.incident).toBeUndefined();
    expect(decision.change).toMatchObject({ to: 'down', isAlerted: false });
  });

  it('folds the incident it opened before the shared incident explained it', () => {
    const down = decide(upStatus(), run('down'), options());
    expect(down.incident?.kind).toBe('open');
    const explained = decide(
      down.status,
      run('down'),
      options({ shared: { kind: 'explained', incidentId: 'S' } }),
    );
    expect(explained.incident).toEqual({ kind: 'fold', incidentId: down.status.openIncidentId, into: 'S' });
    expect(explained.status.openIncidentId).toBeUndefined();
  });

  it('recovers quietly when it leaves the shared incident', () => {
    const down = decide(upStatus(), run('down'), options({ shared: { kind: 'explained', incidentId: 'S' } }));
    const up = decide(down.status, run('up'), options({ shared: { kind: 'left', incidentId: 'S' } }));
    expect(up.change).toMatchObject({ from: 'down', to: 'up', isAlerted: false });
    expect(up.status.sharedIncidentId).toBeUndefined();
  });

  it('alerts and opens its own incident when it keeps failing for a reason of its own', () => {
    const down = decide(upStatus(), run('down'), options({ shared: { kind: 'explained', incidentId: 'S' } }));
    const own = decide(down.status, run('down'), options({ shared: { kind: 'left', incidentId: 'S' } }));
    expect(own.incident?.kind).toBe('open');
    expect(own.change).toMatchObject({ from: 'down', to: 'down', isAlerted: true });
    const recovered = decide(own.status, run('up'), options());
    expect(recovered.change?.isAlerted).toBe(true);
  });
});
