// The API and a separate worker over a unix socket: a redis-server with no TCP port, so nothing connects elsewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SocketRedis, startSocketRedis } from '../../support/redis-topologies.js';
import { getJson, type LoopbackTarget, startTarget, startTestService } from '../service/support.js';
import { exerciseEveryFeature } from './exercise.js';

let redis: SocketRedis;
let target: LoopbackTarget;
let api: Awaited<ReturnType<typeof startTestService>>;
let worker: Awaited<ReturnType<typeof startTestService>>;

beforeAll(async () => {
  redis = await startSocketRedis();
  target = await startTarget();
  const env = { REDIS_PASSWORD: redis.password, PROBE_ALLOW_PRIVATE: 'true', QUEUE_NAME: 'socket' };
  api = await startTestService({ redisUrl: redis.url, env, roles: { api: true, worker: false } });
  worker = await startTestService({
    redisUrl: redis.url,
    env: { ...env, VANTAGE_NAME: 'socket-worker', VANTAGE_HEARTBEAT_SECONDS: '1' },
    roles: { api: false, worker: true },
  });
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await target?.close();
  await redis?.dispose();
});

describe('REDIS_URL=unix:///…', { timeout: 90_000 }, () => {
  it('names the socket, not a TCP address', () => {
    expect(api.redisDescription).toBe(`unix://${redis.socketPath}?db=0`);
  });

  it('is ready and carries probes, wait mode, vantages, monitors, incidents and status.json', async () => {
    expect((await getJson(`${api.apiUrl}/readyz`)).status).toBe(200);
    await exerciseEveryFeature(api.apiUrl, target.url, 'socket-worker');
  });
});
