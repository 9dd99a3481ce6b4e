// Monitoring under the security and fault review: checked jobs, final refusals, alert lanes, no leaked secrets.
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AlertPayload,
  type AlertQueue,
  alertJobOptions,
  alertQueueName,
  enqueueAlerts,
  type WebhookRef,
} from '../../../src/monitor/alerting/alerts.js';
import { loadMonitorConfig } from '../../../src/monitor/config.js';
import { monitorQueueName } from '../../../src/monitor/scheduler.js';
import { type MonitorWorkers, startMonitorWorkers } from '../../../src/monitor/workers.js';
import { connectorForUrl } from '../../../src/redis/connection.js';
import type { AddressPolicy } from '../../../src/safety/address-policy.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { eventually, startDnsServer } from '../service/support.js';
import {
  loopbackPolicy,
  monitorRecord,
  probeDefaults,
  RunRecorder,
  startMonitorHarness,
  startWebhookReceiver,
  type WebhookReceiver,
} from './support.js';

const secret = 'a-global-secret-0123456789';
let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.dispose();
});

function payloadFor(monitorId: string): AlertPayload {
  return {
    event: 'monitor.state_changed',
    id: `payload-${monitorId}`,
    monitor: { id: monitorId, name: monitorId, url: 'http://192.0.2.1/', tags: [] },
    oldState: 'up',
    newState: 'down',
    changedAt: new Date(0).toISOString(),
    cause: 'server_fault',
    code: 'tcp.refused',
    summary: 'refused',
    incident: null,
    links: { monitor: `/monitors/${monitorId}`, status: '/status' },
  };
}

/** Monitor and alert workers on their own queue names, with the webhooks and logger a test gives. */
function startWorkers(options: {
  queueName: string;
  webhookUrls: string[];
  env?: Record<string, string>;
  policy?: AddressPolicy;
  logLines?: string[];
}): { workers: MonitorWorkers; alertQueue: AlertQueue; close(): Promise<void> } {
  const config = loadMonitorConfig({
    MONITOR_FIRST_TICK_DELAY_SECONDS: String(7 * 86_400),
    ALERT_WEBHOOK_URLS: options.webhookUrls.join(','),
    ALERT_WEBHOOK_SECRET: secret,
    ALERT_BACKOFF_MS: '20',
    ...options.env,
  });
  const lines = options.logLines;
  const logger = lines
    ? pino(
        { level: 'debug' },
        new Writable({
          write(chunk, _encoding, callback) {
            lines.push(String(chunk));
            callback();
          },
        }),
      )
    : pino({ level: 'silent' });
  const workers = startMonitorWorkers({
    redis: connectorForUrl(redis.url, options.queueName),
    baseQueueName: options.queueName,
    config,
    probeDefaults,
    policy: options.policy ?? loopbackPolicy,
    logger,
  });
  const client = new Redis(redis.url, { maxRetriesPerRequest: null });
  const alertQueue: AlertQueue = new Queue(alertQueueName(options.queueName), { connection: client });
  return {
    workers,
    alertQueue,
    async close() {
      await workers.close(2000);
      await alertQueue.close();
      client.disconnect();
    },
  };
}

function globalRefs(urls: string[]): WebhookRef[] {
  return urls.map((url, index) => ({ scope: 'global', index, url }));
}

async function finalState(queue: AlertQueue, jobId: string) {
  return eventually(
    async () => {
      const state = await queue.getJobState(jobId);
      // Read after the state, so the job's fields are those of its end, not of a read made before it.
      return state === 'failed' || state === 'completed'
        ? { job: await queue.getJob(jobId), state }
        : undefined;
    },
    { what: `alert job ${jobId} to end`, intervalMs: 50, attempts: 400 },
  );
}

describe('webhook jobs', () => {
  it('ends a webhook the address policy refuses at once, without retries or a connection', async () => {
    const receiver = await startWebhookReceiver();
    const refuseAll: AddressPolicy = () => 'refused by this test';
    const running = startWorkers({
      queueName: 'hard-refused',
      webhookUrls: [receiver.url],
      policy: refuseAll,
    });
    try {
      const [ref] = globalRefs([receiver.url]);
      await enqueueAlerts(
        running.alertQueue,
        { webhooks: [ref as WebhookRef], channelIds: [] },
        payloadFor('m1'),
        alertJobOptions({ attempts: 10, backoffMs: 20 }),
        'refused',
      );
      const { job, state } = await finalState(running.alertQueue, 'refused-global-0');
      expect(state).toBe('failed');
      expect(job?.attemptsMade).toBe(1);
      expect(receiver.deliveries).toHaveLength(0);
    } finally {
      await running.close();
      await receiver.close();
    }
  });

  it('refuses webhook job data that does not match the schema, without sending anything', async () => {
    const receiver = await startWebhookReceiver();
    const running = startWorkers({ queueName: 'hard-invalid', webhookUrls: [receiver.url] });
    try {
      await running.alertQueue.add(
        'webhook',
        { webhook: { scope: 'global', index: 0, url: receiver.url }, payload: { event: 'other' } } as never,
        { jobId: 'bad-data', attempts: 5 },
      );
      const { job, state } = await finalState(running.alertQueue, 'bad-data');
      expect(state).toBe('failed');
      expect(job?.attemptsMade).toBe(1);
      expect(receiver.deliveries).toHaveLength(0);
    } finally {
      await running.close();
      await receiver.close();
    }
  });

  it('logs and keeps a failing webhook by its destination only, never its path or token', async () => {
    const receiver = await startWebhookReceiver();
    receiver.answers.push(500, 500);
    const url = `${receiver.url}/s3cr3t-path-token?token=s3cr3t-query-token`;
    const logLines: string[] = [];
    const running = startWorkers({ queueName: 'hard-log', webhookUrls: [url], logLines });
    try {
      await enqueueAlerts(
        running.alertQueue,
        { webhooks: globalRefs([url]), channelIds: [] },
        payloadFor('m2'),
        alertJobOptions({ attempts: 2, backoffMs: 20 }),
        'logged',
      );
      const { job, state } = await finalState(running.alertQueue, 'logged-global-0');
      expect(state).toBe('failed');
      expect(job?.attemptsMade).toBe(2);
      expect(job?.failedReason).toContain(new URL(receiver.url).host);
      expect(job?.failedReason).not.toContain('s3cr3t');
      expect(logLines.some((line) => line.includes('alert delivery failed'))).toBe(true);
      expect(logLines.join('\n')).not.toContain('s3cr3t');
    } finally {
      await running.close();
      await receiver.close();
    }
  });
});

describe('alert lanes', () => {
  const hanging: WebhookReceiver[] = [];
  let healthy: WebhookReceiver;

  beforeAll(async () => {
    for (let index = 0; index < 40; index += 1) {
      const receiver = await startWebhookReceiver();
      receiver.answers.push(...Array.from({ length: 10 }, () => 0));
      hanging.push(receiver);
    }
    healthy = await startWebhookReceiver();
  });

  afterAll(async () => {
    for (const receiver of hanging) await receiver.close();
    await healthy?.close();
  });

  it('delivers an unrelated alert while 40 receivers hang, before any of their attempts times out', async () => {
    const urls = [...hanging.map((receiver) => receiver.url), healthy.url];
    const running = startWorkers({
      queueName: 'hard-lanes',
      webhookUrls: urls,
      env: { ALERT_TIMEOUT_MS: '4000', ALERT_ATTEMPTS: '3' },
    });
    const failedBefore: string[] = [];
    running.workers.events.on('deliveryFailed', ({ jobId }: { jobId: string }) => failedBefore.push(jobId));
    try {
      const refs = globalRefs(urls);
      const options = alertJobOptions({ attempts: 3, backoffMs: 20 });
      // Two alerts for every hanging receiver, then one for a monitor whose receiver answers.
      for (const round of [1, 2]) {
        await enqueueAlerts(
          running.alertQueue,
          { webhooks: refs.slice(0, 40), channelIds: [] },
          payloadFor(`stuck-${round}`),
          options,
          `r${round}`,
        );
      }
      const delivered = new Promise<void>((resolve) => {
        running.workers.events.on('delivered', ({ jobId }: { jobId: string }) => {
          if (jobId === 'healthy-global-40') resolve();
        });
      });
      await enqueueAlerts(
        running.alertQueue,
        { webhooks: refs.slice(40), channelIds: [] },
        payloadFor('unrelated'),
        options,
        'healthy',
      );
      await delivered;
      expect(failedBefore).toEqual([]);
      expect(healthy.deliveries).toHaveLength(1);
    } finally {
      await running.close();
    }
  });
});

describe('monitor run jobs', () => {
  it('acts on no run job whose data our scheduler did not write', async () => {
    const running = startWorkers({ queueName: 'hard-runs', webhookUrls: [] });
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(monitorQueueName('hard-runs'), { connection: client });
    try {
      await queue.add(
        'monitor-run',
        { monitorId: '../../etc', trigger: 'bogus' },
        { jobId: 'forged', attempts: 3 },
      );
      const job = await eventually(
        async () => {
          const found = await queue.getJob('forged');
          return found?.finishedOn ? found : undefined;
        },
        { what: 'the forged run job to end', intervalMs: 50 },
      );
      expect(job.returnvalue).toBe('invalid');
      expect(job.attemptsMade).toBe(1);
    } finally {
      await queue.close();
      client.disconnect();
      await running.close();
    }
  });

  it('refuses a stored monitor whose resolver the policy refuses, without querying it', async () => {
    const dns = await startDnsServer('192.0.2.10');
    // A policy that allows nothing: here the resolver, which the engine itself would query without asking.
    const harness = await startMonitorHarness({ redisUrl: redis.url, policy: () => 'refused by this test' });
    const recorder = new RunRecorder(harness.workers);
    try {
      const id = '9b0c2c34-0000-4000-8000-00000000a001';
      // Written to the store directly, as anything holding the Redis password could: the API never saw it.
      await harness.workers.store.putMonitor(
        monitorRecord(id, { url: 'http://shop.example.test/', resolvers: [dns.resolver] }),
      );
      const runs = recorder.next(id, 1);
      await harness.workers.scheduler.runNow(id, 'manual');
      const [run] = await runs;
      expect(run?.result.entry).toMatchObject({ health: 'down', cause: 'refused', code: 'policy.refused' });
      expect(dns.queryCount()).toBe(0);
    } finally {
      recorder.stop();
      await harness.close();
      await dns.close();
    }
  });
});

describe('the status page', () => {
  it('may not be framed unless STATUS_FRAME_ANCESTORS names the embedding origin', async () => {
    const closed = await startMonitorHarness({ redisUrl: redis.url });
    const open = await startMonitorHarness({
      redisUrl: redis.url,
      env: { STATUS_FRAME_ANCESTORS: 'https://intranet.example.test' },
    });
    try {
      const denied = await fetch(`${closed.url}/status`);
      expect(denied.headers.get('content-security-policy')).toMatch(/frame-ancestors 'none'/);
      expect(denied.headers.get('x-frame-options')).toBe('DENY');
      const allowed = await fetch(`${open.url}/status`);
      expect(allowed.headers.get('content-security-policy')).toMatch(
        /frame-ancestors https:\/\/intranet\.example\.test/,
      );
      expect(allowed.headers.get('x-frame-options')).toBeNull();
    } finally {
      await closed.close();
      await open.close();
    }
  });
});
