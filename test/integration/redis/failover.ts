// Probes submitted continuously through a failover, and where each accepted one ended: shared by the Sentinel and
// Cluster suites, which differ only in what they kill and how they know the replica has taken over.
import { expect } from 'vitest';
import { eventually, getJson, type JsonBody, postJson } from '../service/support.js';

export type Ending = 'completed' | 'failed' | 'lost' | 'unfinished';

export interface Refusal {
  status: number;
  type: string | null;
  title: string;
}

export interface FailoverRun {
  accepted: string[];
  refusals: Refusal[];
  acceptedAfterRecovery: number;
  killedAtMs: number;
  recoveredAtMs: number;
  /** The longest a submission waited for its answer after the kill. */
  slowestAnswerMs: number;
}

/**
 * One submission every 40 ms: after `beforeKill` are accepted, `kill` runs; submissions go on until `perSide`
 * more are accepted with `isPromoted` true (the replica serves), or 90 s have passed.
 */
export async function submitThroughFailover(options: {
  apiUrl: string;
  targetUrl: string;
  kill: () => Promise<void>;
  isPromoted: () => Promise<boolean>;
  perSide?: number;
}): Promise<FailoverRun> {
  const perSide = options.perSide ?? 20;
  const run: FailoverRun = {
    accepted: [],
    refusals: [],
    acceptedAfterRecovery: 0,
    killedAtMs: 0,
    recoveredAtMs: 0,
    slowestAnswerMs: 0,
  };
  let isKilled = false;
  const startedMs = Date.now();
  while (run.acceptedAfterRecovery < perSide && Date.now() - startedMs < 90_000) {
    const sentAtMs = Date.now();
    const response = await postJson(`${options.apiUrl}/probe`, { url: options.targetUrl, timeoutMs: 5000 });
    if (isKilled) run.slowestAnswerMs = Math.max(run.slowestAnswerMs, Date.now() - sentAtMs);
    if (response.status === 202) {
      run.accepted.push(response.body.id);
      if (isKilled && (await options.isPromoted())) {
        run.acceptedAfterRecovery += 1;
        run.recoveredAtMs ||= Date.now();
      }
    } else {
      run.refusals.push({
        status: response.status,
        type: response.headers.get('content-type'),
        title: `${response.body.title}: ${response.body.detail}`,
      });
    }
    if (!isKilled && run.accepted.length >= perSide) {
      await options.kill();
      isKilled = true;
      run.killedAtMs = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  return run;
}

/** Every submission refused in the switch was a 503 problem, nothing else. */
export function expectOnly503Problems(refusals: Refusal[]): void {
  for (const refusal of refusals) {
    expect(refusal.status).toBe(503);
    expect(refusal.type).toMatch(/^application\/problem\+json/);
  }
}

/** Where an accepted probe ended: completed, failed, lost (the new master never had it), or neither yet. */
async function endingOf(apiUrl: string, id: string): Promise<Ending> {
  const status = await getJson(`${apiUrl}/probe/${id}`);
  if (status.status === 404) return 'lost';
  if (status.body.status === 'completed') return 'completed';
  if (status.body.status === 'failed') return 'failed';
  return 'unfinished';
}

/** Waits (up to 60 s) for every accepted probe to end; counts the endings, unfinished ones included. */
export async function endingsOf(apiUrl: string, accepted: string[]): Promise<Record<Ending, number>> {
  const endings = await eventually(
    async () => {
      const all = await Promise.all(accepted.map((id) => endingOf(apiUrl, id)));
      return all.includes('unfinished') ? undefined : all;
    },
    { what: 'every accepted probe to end', attempts: 300, intervalMs: 200 },
  ).catch(async () => Promise.all(accepted.map((id) => endingOf(apiUrl, id))));
  const count = (ending: Ending) => endings.filter((each) => each === ending).length;
  return {
    completed: count('completed'),
    failed: count('failed'),
    lost: count('lost'),
    unfinished: count('unfinished'),
  };
}

/** The line docs/api.md quotes: accepted, completed, failed, lost to asynchronous replication. */
export function describeRun(mode: string, run: FailoverRun, endings: Record<Ending, number>): string {
  return (
    `${mode} failover: ${run.accepted.length} accepted, ${endings.completed} completed, ${endings.failed} failed, ` +
    `${endings.lost} lost, ${endings.unfinished} unfinished; ${run.refusals.length} answered 503 during the ` +
    `switch; accepting again ${run.recoveredAtMs - run.killedAtMs} ms after the kill; slowest answer after the ` +
    `kill ${run.slowestAnswerMs} ms`
  );
}

/**
 * Waits (10 s at most) until the master's replica has acknowledged every write the master has taken, so that a
 * kill right after measures the switch, not replication lag (one loaded CI run, killing without this wait, lost
 * all 20 probes accepted before the kill: the replica had not caught up).
 */
export async function replicaCaughtUp(
  cli: (...args: string[]) => Promise<string>,
  port: number,
): Promise<void> {
  await eventually(
    async () => {
      const info = await cli('INFO', 'replication');
      const masterOffset = Number(/master_repl_offset:(\d+)/.exec(info)?.[1]);
      const replicaOffset = Number(/slave0:[^\n]*offset=(\d+)/.exec(info)?.[1]);
      return replicaOffset >= masterOffset ? true : undefined;
    },
    { what: `the replica of ${port} to catch up with its master`, attempts: 200, intervalMs: 50 },
  );
}

/**
 * Waits (up to 50 s) until each monitor has a scheduled run that started after `sinceMs` (the API accepting
 * again after the promotion): no schedule was lost in the failover. A failure names the monitors without one,
 * followed by `describeSchedule()` (the workers' log of their schedule).
 */
export async function expectScheduledRunsSince(
  apiUrl: string,
  monitorIds: string[],
  sinceMs: number,
  describeSchedule: () => string,
): Promise<void> {
  const ranSince = async (id: string) => {
    const history = await getJson(`${apiUrl}/monitors/${id}/history`);
    const entries: JsonBody[] = history.body.entries ?? [];
    return entries.some((entry) => entry.trigger === 'schedule' && Date.parse(entry.at) > sinceMs);
  };
  await eventually(
    async () => ((await Promise.all(monitorIds.map(ranSince))).every(Boolean) ? true : undefined),
    {
      what: `a scheduled run of each monitor after ${new Date(sinceMs).toISOString()}`,
      attempts: 200,
      intervalMs: 250,
    },
  ).catch(async (error) => {
    const ran = await Promise.all(monitorIds.map(ranSince));
    const without = monitorIds.filter((_, index) => !ran[index]);
    throw new Error(
      `${(error as Error).message} (${without.join(', ')}); the workers' log of their schedule:\n${describeSchedule()}`,
    );
  });
}
