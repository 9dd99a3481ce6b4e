// One BullMQ job scheduler per monitor, plus the one-off runs (first run, re-checks) on the same queue.
import { createHash } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { MonitorRecord } from './records.js';
import type { RunTrigger } from './run-result.js';

export interface MonitorRunJobData {
  monitorId: string;
  trigger: RunTrigger;
}

export const monitorRunJobName = 'monitor-run';
export type MonitorQueue = Queue<MonitorRunJobData, unknown, string>;

export function monitorQueueName(baseQueueName: string): string {
  return `${baseQueueName}-monitors`;
}

export function schedulerIdOf(monitorId: string): string {
  return `monitor:${monitorId}`;
}

// A run whose target is down is a result, not a failed job; only our own errors fail a job. The next tick
// comes anyway, so failed runs are not retried, and finished jobs are not kept (10,000 monitors a minute).
const runJobOptions: JobsOptions = {
  attempts: 1,
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
};

/**
 * Where in its interval a monitor's ticks fall: a stable spread drawn from its id, so 10,000 monitors created
 * in the same second do not all fire in the same second of every minute.
 */
export function spreadMs(monitorId: string, intervalMs: number): number {
  const hash = createHash('sha256').update(monitorId).digest();
  return hash.readUInt32BE(0) % intervalMs;
}

export class MonitorScheduler {
  constructor(
    readonly queue: MonitorQueue,
    private readonly firstTickDelayMs: number,
  ) {}

  /**
   * Creates or updates the monitor's job scheduler. A changed interval starts a new phase; an unchanged one
   * keeps the next tick where it was.
   */
  async upsert(monitor: MonitorRecord): Promise<void> {
    const everyMs = monitor.intervalSeconds * 1000;
    const nowMs = Date.now();
    // The first tick: after the configured delay, at the monitor's own place within its interval.
    const startMs =
      nowMs +
      this.firstTickDelayMs +
      ((spreadMs(monitor.id, everyMs) - (nowMs % everyMs) + everyMs) % everyMs);
    await this.queue.upsertJobScheduler(
      schedulerIdOf(monitor.id),
      { every: everyMs, startDate: startMs },
      { name: monitorRunJobName, data: { monitorId: monitor.id, trigger: 'schedule' }, opts: runJobOptions },
    );
  }

  async remove(monitorId: string): Promise<void> {
    await this.queue.removeJobScheduler(schedulerIdOf(monitorId));
  }

  /**
   * Runs the monitor as soon as a worker is free (first run after create, re-checks, tests). Returns the job id.
   * A `jobId` makes it idempotent: a second call with the same id adds nothing while the first job is kept.
   */
  async runNow(monitorId: string, trigger: RunTrigger, delayMs = 0, jobId?: string): Promise<string> {
    const job = await this.queue.add(
      monitorRunJobName,
      { monitorId, trigger },
      { ...runJobOptions, ...(delayMs > 0 ? { delay: delayMs } : {}), ...(jobId ? { jobId } : {}) },
    );
    return job.id ?? '';
  }

  async nextTickMs(monitorId: string): Promise<number | undefined> {
    const scheduler = await this.queue.getJobScheduler(schedulerIdOf(monitorId));
    return scheduler?.next;
  }
}

/** The time the scheduler meant a job to run, read from its id (repeat:<scheduler id>:<millis>). */
export function scheduledAtOf(jobId: string | undefined): number | undefined {
  if (!jobId?.startsWith('repeat:')) return undefined;
  const millis = Number(jobId.slice(jobId.lastIndexOf(':') + 1));
  return Number.isFinite(millis) ? millis : undefined;
}
