// Helpers of the shared-incident suites: run many monitors at once, wait for the alert queue to be empty.
import type { MonitorRecord } from '../../../src/monitor/records.js';
import type { RunEvent } from '../../../src/monitor/runner.js';
import type { Incident } from '../../../src/monitor/store.js';
import type { MonitorHarness, RunRecorder } from './support.js';

/** Triggers one run of each monitor at once and resolves with each one's applied run. */
export async function runAll(
  harness: MonitorHarness,
  recorder: RunRecorder,
  monitors: MonitorRecord[],
): Promise<RunEvent[]> {
  const runs = monitors.map((monitor) => recorder.next(monitor.id, 1));
  await Promise.all(monitors.map((monitor) => harness.workers.scheduler.runNow(monitor.id, 'manual')));
  return (await Promise.all(runs)).map((list) => list[0] as RunEvent);
}

/**
 * Waits until the alert queue holds nothing waiting, delayed (held alerts) or active: every alert queued so far was
 * delivered, dropped or refused. Polls Redis, bounded: the held alerts wait MONITOR_SHARED_HOLD_SECONDS.
 */
export async function drainAlerts(harness: MonitorHarness, maxWaitMs = 120_000): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  while (Date.now() < deadline) {
    const counts = await harness.alertQueue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    if (Object.values(counts).every((count) => count === 0)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the alert queue still held jobs after ${maxWaitMs} ms`);
}

/** Every incident kept, shared ones included, newest first. */
export function incidentsOf(harness: MonitorHarness): Promise<Incident[]> {
  return harness.api.store.incidentsSince(0, []);
}
