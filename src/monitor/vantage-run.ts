// A monitor run from several vantages: the fan-out, the wait for its comparison, and the run it makes.
import { randomUUID } from 'node:crypto';
import type { QueueEvents } from 'bullmq';
import type { ProbeJobData, ProbeJobResult } from '../requests/probe-job.js';
import type { ProbeDefaults } from '../requests/probe-options.js';
import { type FanOutSubmitter, fanOutGraceMs } from '../vantages/fan-out.js';
import { selectVantages, type VantageRegistry } from '../vantages/registry.js';
import type { MonitorRecord } from './records.js';
import { type RunResult, type RunTrigger, runResultOfVantages, unprobedDownRun } from './run-result.js';

/** What a monitor worker needs to run monitors from vantages. */
export interface MonitorVantages {
  registry: VantageRegistry;
  fanOut: FanOutSubmitter;
  /** Events of the comparison queue, to wait for a fan-out's result: opened on first use. */
  compareEvents(): Promise<QueueEvents>;
  close(): Promise<void>;
}

/** How long a finished fan-out stays readable in Redis: long enough to debug a run, bounded by count too. */
const keptSeconds = 3600;

type RunContext = { trigger: RunTrigger; isMaintenance: boolean; scheduledAtMs?: number };

export async function probeFromVantages(
  monitor: MonitorRecord & { vantages: NonNullable<MonitorRecord['vantages']> },
  vantages: MonitorVantages,
  probeDefaults: ProbeDefaults,
  context: RunContext,
): Promise<RunResult> {
  const startedAtMs = Date.now();
  const selection = selectVantages(monitor.vantages, await vantages.registry.list());
  if (!selection.isSelected) return noVantageRun(selection.reason, startedAtMs, context);
  const timeoutMs = monitor.timeoutMs ?? probeDefaults.timeoutMs;
  const request: ProbeJobData = {
    url: monitor.url,
    ...(monitor.resolvers ? { resolvers: monitor.resolvers } : {}),
    ...(monitor.controls ? { controls: monitor.controls } : {}),
    timeoutMs,
    // Each vantage judges the answer it got by the same checks and threshold as a single worker would.
    ...(monitor.expect ? { expect: monitor.expect } : {}),
    ...(monitor.slowFirstByteMs !== undefined ? { slowFirstByteMs: monitor.slowFirstByteMs } : {}),
  };
  const id = randomUUID();
  const compareEvents = await vantages.compareEvents();
  await vantages.fanOut.submit({
    id,
    request,
    vantages: selection.vantages,
    timeoutMs,
    jobOptions: {
      removeOnComplete: { age: keptSeconds, count: 10_000 },
      removeOnFail: { age: keptSeconds, count: 10_000 },
    },
  });
  const job = await vantages.fanOut.compareQueue.getJob(id);
  if (!job) throw new Error(`fan-out ${id} vanished before its comparison`);
  // The comparison runs by the deadline at the latest; a little more covers the comparison itself.
  const result = (await job.waitUntilFinished(
    compareEvents,
    timeoutMs + fanOutGraceMs + 5000,
  )) as ProbeJobResult;
  if (result.outcome !== 'vantages') throw new Error(`fan-out ${id} ended with ${result.outcome}`);
  return runResultOfVantages(result.report, monitor.quorum, context);
}

/**
 * None of the monitor's vantages is live: nothing was probed. The run is down with the monitoring network as
 * the cause, so the status page says it is ours, not the site's.
 */
function noVantageRun(reason: string, startedAtMs: number, context: RunContext): RunResult {
  return unprobedDownRun(startedAtMs, context, {
    cause: 'local_network',
    code: 'vantage.none_live',
    summary: `No vantage could probe it: ${reason}.`,
    vantages: [],
  });
}
