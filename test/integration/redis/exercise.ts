// What every Redis mode must carry: a probe queued and one waited for, the vantage registry, monitors with their
// runs and schedules, an incident and status.json. Shared by the socket, Sentinel and Cluster suites.
import { expect } from 'vitest';
import { freeClosedPort } from '../../support/http-servers.js';
import { completedProbe, eventually, getJson, type JsonBody, postJson } from '../service/support.js';

export interface ExerciseOutcome {
  upMonitorId: string;
  downMonitorId: string;
}

/** Runs every feature once against the API at `apiUrl`; `targetUrl` answers 200, `vantage` is a live worker. */
export async function exerciseEveryFeature(
  apiUrl: string,
  targetUrl: string,
  vantage: string,
): Promise<ExerciseOutcome> {
  const queued = await postJson(`${apiUrl}/probe`, { url: targetUrl, timeoutMs: 5000 });
  expect(queued.status).toBe(202);
  const done = await completedProbe(apiUrl, queued.body.id, { what: 'the queued probe' });
  expect(done.report.verdict.cause).toBe('ok');

  const waited = await postJson(`${apiUrl}/probe?wait=30`, { url: targetUrl, timeoutMs: 5000 });
  expect(waited.status).toBe(200);
  expect(waited.body.report.verdict.cause).toBe('ok');

  await eventually(
    async () => {
      const listed = await getJson(`${apiUrl}/vantages`);
      return listed.body.vantages?.some((live: JsonBody) => live.name === vantage) ? true : undefined;
    },
    { what: `vantage ${vantage} in GET /vantages` },
  );

  const up = await postJson(`${apiUrl}/monitors`, { name: 'Up site', url: targetUrl, intervalSeconds: 10 });
  expect(up.status).toBe(201);
  // A closed loopback port, held so nothing else listens there: refused, so the monitor goes down and opens an
  // incident at its first run.
  const closedUrl = `http://127.0.0.1:${await freeClosedPort()}/`;
  const down = await postJson(`${apiUrl}/monitors`, {
    name: 'Down site',
    url: closedUrl,
    intervalSeconds: 10,
    confirmations: 1,
  });
  expect(down.status).toBe(201);
  const upMonitorId = up.body.id;
  const downMonitorId = down.body.id;
  for (const id of [upMonitorId, downMonitorId]) {
    await eventually(
      async () => {
        const history = await getJson(`${apiUrl}/monitors/${id}/history`);
        return history.body.entries?.length > 0 ? true : undefined;
      },
      { what: `a run of monitor ${id}` },
    );
  }
  const status = await eventually(
    async () => {
      const summary = await getJson(`${apiUrl}/status.json`);
      return summary.body.incidents?.length > 0 ? summary.body : undefined;
    },
    { what: 'an incident in status.json' },
  );
  expect(status.components.map((component: JsonBody) => component.name).sort()).toEqual([
    'Down site',
    'Up site',
  ]);
  expect(status.incidents.map((incident: JsonBody) => incident.reach.monitorId)).toEqual([downMonitorId]);
  return { upMonitorId, downMonitorId };
}
