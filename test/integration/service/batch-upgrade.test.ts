// A batch accepted before chunks (one probe job per URL on the batch lane, no chunkSize in its meta) still runs on
// this version's workers, every URL with exactly one result, and its cancel still takes its URL jobs off the queue.
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchQueueName, itemJobId, itemJobOptions } from '../../../src/batch/jobs.js';
import { BatchStore } from '../../../src/batch/store.js';
import { closeRedisClient, connectorForUrl, type RedisClient } from '../../../src/redis/connection.js';
import { probeJobName } from '../../../src/requests/probe-job.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { finishedBatch, indexesOf, range, resultItems } from './batch-support.js';
import { type LoopbackTarget, startTarget, startTestService } from './support.js';

const queueName = 'batch-upgrade';
let redis: TestRedis;
let target: LoopbackTarget;
let client: RedisClient;
let queue: Queue;
let store: BatchStore;
let nextId = 0;

beforeAll(async () => {
  redis = await startRedis();
  target = await startTarget();
  const connector = connectorForUrl(redis.url, queueName);
  client = connector.client('blocking');
  queue = new Queue(batchQueueName(queueName), connector.bullOn(client));
  store = new BatchStore(client, queueName, 3600);
});

afterAll(async () => {
  await queue?.close();
  if (client) await closeRedisClient(client);
  await target?.close();
  await redis?.dispose();
});

/** Writes a batch as the version before chunks did: its meta without chunkSize, one probe job per URL. */
async function queueOldBatch(urls: string[]): Promise<string> {
  nextId += 1;
  const id = `00000000-0000-4000-8000-${String(nextId).padStart(12, '0')}`;
  await store.create({
    id,
    clientId: 'anonymous',
    urls,
    options: { timeoutMs: 5000 },
    badLines: [],
    createdAtMs: Date.now(),
    chunkSize: 1,
  });
  await client.hdel(store.keys(id).meta, 'chunkSize');
  await store.addRunning('anonymous', id, Date.now());
  const jobOptions = itemJobOptions({ attempts: 3, backoffMs: 100, resultTtlSeconds: 3600 });
  await queue.addBulk(
    urls.map((url, index) => ({
      name: probeJobName,
      data: { url, timeoutMs: 5000, batch: { id, index } },
      opts: { ...jobOptions, jobId: itemJobId(id, index) },
    })),
  );
  return id;
}

describe('a batch queued before chunks', { timeout: 60_000 }, () => {
  it('is run by the new workers, every URL with exactly one result', async () => {
    const urls = range(12).map((index) => target.url.replace(/\/$/, `/old-${index}`));
    const id = await queueOldBatch(urls);
    const service = await startTestService({
      redisUrl: redis.url,
      env: { QUEUE_NAME: queueName, PROBE_ALLOW_PRIVATE: 'true', BATCH_WORKER_CONCURRENCY: '4' },
    });
    try {
      const status = await finishedBatch(service.apiUrl, id);
      expect(status).toMatchObject({ state: 'completed', total: 12, done: 12, byStatus: { completed: 12 } });
      const items = await resultItems(service.apiUrl, id);
      expect(indexesOf(items)).toEqual(range(12));
      expect(items.every((item) => item.cause === 'ok')).toBe(true);
    } finally {
      await service.close();
    }
  });

  it('is cancelled by DELETE: its URL jobs still waiting are taken off the queue and recorded cancelled', async () => {
    const urls = range(6).map((index) => target.url.replace(/\/$/, `/old-cancel-${index}`));
    const id = await queueOldBatch(urls);
    // The API alone: no worker takes the jobs, so every one is still waiting when the cancel comes.
    const api = await startTestService({
      redisUrl: redis.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: queueName, PROBE_ALLOW_PRIVATE: 'true' },
    });
    try {
      const cancelled = await fetch(`${api.apiUrl}/batches/${id}`, { method: 'DELETE' });
      expect(cancelled.status).toBe(200);
      expect(await cancelled.json()).toMatchObject({
        state: 'cancelled',
        done: 6,
        byStatus: { cancelled: 6 },
      });
      expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 0 });
      const items = await resultItems(api.apiUrl, id);
      expect(items.map((item) => item.url)).toEqual(urls.map((url) => new URL(url).href));
    } finally {
      await api.close();
    }
  });
});
