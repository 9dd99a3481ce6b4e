// Prometheus metrics of probe jobs: how long they took and what they found.
import { Counter, Histogram, type Registry } from 'prom-client';

export interface ProbeMetrics {
  jobDurationSeconds: Histogram<'outcome'>;
  queueWaitSeconds: Histogram;
  probesTotal: Counter<'outcome' | 'cause' | 'code'>;
  jobErrorsTotal: Counter;
}

const secondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export function createProbeMetrics(registry: Registry): ProbeMetrics {
  return {
    jobDurationSeconds: new Histogram({
      name: 'reach_probe_job_duration_seconds',
      help: 'Time a worker spent on a probe job, by outcome (report, refused, invalid, error).',
      labelNames: ['outcome'],
      buckets: secondsBuckets,
      registers: [registry],
    }),
    queueWaitSeconds: new Histogram({
      name: 'reach_probe_queue_wait_seconds',
      help: 'Time from submission until a worker started the job.',
      buckets: secondsBuckets,
      registers: [registry],
    }),
    probesTotal: new Counter({
      name: 'reach_probes_total',
      help: 'Finished probes by outcome and verdict cause and code (refused and invalid have cause "none").',
      labelNames: ['outcome', 'cause', 'code'],
      registers: [registry],
    }),
    jobErrorsTotal: new Counter({
      name: 'reach_probe_job_errors_total',
      help: 'Probe jobs that threw an infrastructure error (retried with backoff).',
      registers: [registry],
    }),
  };
}
