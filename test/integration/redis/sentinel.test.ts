// A master, a replica and three Sentinels: probes keep coming while the master is killed with SIGKILL; the API
// answers 503 problems during the switch, recovers by itself, the workers follow, and every accepted probe ends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SentinelSet, startSentinelSet } from '../../support/redis-topologies.js';
import {
  eventually,
  getJson,
  type LoopbackTarget,
  postJson,
  startTarget,
  startTestService,
} from '../service/support.js';

let sentinel: SentinelSet;
let target: LoopbackTarget;
let api: Awaited<ReturnType<typeof startTestService>>;
const workers: Array<Awaited<ReturnType<typeof startTestService>>> = [];

beforeAll(async () => {
  sentinel = await startSentinelSet();
  // A little work per probe, so some are running when the master dies.
  target = await startTarget((_request, response) => {
    setTimeout(() => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>'), 30);
  });
  const env = {
    ...sentinel.env,
    QUEUE_NAME: 'sentinel',
    PROBE_ALLOW_PRIVATE: 'true',
    // A probe whose worker lost its lock in the switch is taken up again within seconds, not the default 30.
    WORKER_LOCK_DURATION_MS: '4000',
    WORKER_STALLED_INTERVAL_MS: '1000',
    JOB_BACKOFF_MS: '200',
  };
  api = await startTestService({ env, roles: { api: true, worker: false } });
  for (const name of ['worker-a', 'worker-b'])
    workers.push(
      await startTestService({ env: { ...env, VANTAGE_NAME: name }, roles: { api: false, worker: true } }),
    );
}, 60_000);

afterAll(async () => {
  for (const worker of workers) await worker.close();
  await api?.close();
  await target?.close();
  await sentinel?.dispose();
});

type Ending = 'completed' | 'failed' | 'lost' | 'unfinished';

/** Where an accepted probe ended: completed, failed, lost (the new master never had it), or neither yet. */
async function endingOf(id: string): Promise<Ending> {
  const status = await getJson(`${api.apiUrl}/probe/${id}`);
  if (status.status === 404) return 'lost';
  if (status.body.status === 'completed') return 'completed';
  if (status.body.status === 'failed') return 'failed';
  return 'unfinished';
}

describe('Sentinel failover', { timeout: 120_000 }, () => {
  it('answers 503 during the switch, recovers by itself, and ends every probe it accepted', async () => {
    expect(api.redisDescription).toMatch(/^sentinel reach-test via 127\.0\.0\.1:\d+/);
    const accepted: string[] = [];
    const refusals: Array<{ status: number; type: string | null; title: unknown }> = [];
    let isKilled = false;
    let acceptedAfterRecovery = 0;
    let killedAtMs = 0;
    let recoveredAtMs = 0;
    // One submission every 40 ms for as long as it takes: 20 accepted before the kill, 20 after the new master.
    const startedMs = Date.now();
    while (acceptedAfterRecovery < 20 && Date.now() - startedMs < 60_000) {
      const response = await postJson(`${api.apiUrl}/probe`, { url: target.url, timeoutMs: 5000 });
      if (response.status === 202) {
        accepted.push(response.body.id);
        if (isKilled && (await sentinel.currentMasterPort()) === sentinel.replica.port) {
          acceptedAfterRecovery += 1;
          recoveredAtMs ||= Date.now();
        }
      } else {
        refusals.push({
          status: response.status,
          type: response.headers.get('content-type'),
          title: `${response.body.title}: ${response.body.detail}`,
        });
      }
      if (!isKilled && accepted.length >= 20) {
        await sentinel.master.stop('SIGKILL');
        isKilled = true;
        killedAtMs = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    const masterPort = await sentinel.currentMasterPort();
    expect(
      acceptedAfterRecovery,
      `submissions accepted again after the promotion (the Sentinels name port ${masterPort}, the replica is ` +
        `${sentinel.replica.port}; last refusals ${JSON.stringify(refusals.slice(-2))})`,
    ).toBe(20);
    expect(await sentinel.currentMasterPort()).toBe(sentinel.replica.port);
    // The switch was seen as 503 problems, and nothing else went wrong.
    expect(refusals.length).toBeGreaterThan(0);
    for (const refusal of refusals) {
      expect(refusal.status).toBe(503);
      expect(refusal.type).toMatch(/^application\/problem\+json/);
    }
    expect((await getJson(`${api.apiUrl}/readyz`)).status).toBe(200);

    // Every accepted probe ends, completed or failed, on the new master; the workers followed it.
    const endings = await eventually(
      async () => {
        const all = await Promise.all(accepted.map(endingOf));
        return all.includes('unfinished') ? undefined : all;
      },
      { what: 'every accepted probe to end', attempts: 150, intervalMs: 200 },
    ).catch(async () => Promise.all(accepted.map(endingOf)));
    const count = (ending: Ending) => endings.filter((each) => each === ending).length;
    // The figure docs/api.md quotes: accepted, completed, failed, lost to asynchronous replication.
    console.log(
      `sentinel failover: ${accepted.length} accepted, ${count('completed')} completed, ${count('failed')} failed, ` +
        `${count('lost')} lost, ${count('unfinished')} unfinished; ${refusals.length} answered 503 during the ` +
        `switch; accepting again ${recoveredAtMs - killedAtMs} ms after the kill`,
    );
    expect(count('unfinished'), 'accepted probes neither completed nor failed').toBe(0);
    expect(count('lost'), 'accepted probes the promoted replica never had').toBe(0);

    // Wait mode works again: the API's event stream followed the promotion too.
    const waited = await postJson(`${api.apiUrl}/probe?wait=30`, { url: target.url, timeoutMs: 5000 });
    expect(waited.status).toBe(200);
    expect(waited.body.report.verdict.cause).toBe('ok');
  });
});
