// A batch's controls in the service: probed once for the whole batch, though two worker processes take its URLs,
// and the observation shared, a failing one too (it is probed again only after the refresh interval).

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOnLoopback, type TestServer } from '../../support/http-servers.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { completedBatchItems } from './batch-support.js';
import { type LoopbackTarget, startTarget, startTestService } from './support.js';

let redis: TestRedis;
let api: Awaited<ReturnType<typeof startTestService>>;
let secondWorker: Awaited<ReturnType<typeof startTestService>>;
let site: LoopbackTarget;
let control: LoopbackTarget;
let failingControl: TestServer;
let failingControlConnections = 0;

beforeAll(async () => {
  redis = await startRedis();
  site = await startTarget();
  control = await startTarget();
  // Resets each request, and counts the connections made to it.
  failingControl = await listenOnLoopback(
    net.createServer((socket) => {
      failingControlConnections += 1;
      socket.on('error', () => undefined);
      socket.once('data', () => socket.resetAndDestroy());
    }),
  );
  const env = { QUEUE_NAME: 'bcontrols', PROBE_ALLOW_PRIVATE: 'true', BATCH_WORKER_CONCURRENCY: '4' };
  api = await startTestService({ redisUrl: redis.url, env });
  secondWorker = await startTestService({ redisUrl: redis.url, roles: { api: false, worker: true }, env });
});

afterAll(async () => {
  await secondWorker?.close();
  await api?.close();
  await Promise.all([site, control, failingControl].map((server) => server?.close()));
  await redis?.dispose();
});

const urlsOf = (count: number) => Array.from({ length: count }, (_, index) => `${site.url}${index}`);

describe('a batch with controls, run by two worker processes', () => {
  it('probes a reachable control once for the whole batch and gives every URL its result', async () => {
    const urls = urlsOf(24);
    const items = await completedBatchItems(api.apiUrl, { urls, controls: [control.url], timeoutMs: 3000 });
    for (const item of items) {
      expect(item.report.controls).toEqual([
        expect.objectContaining({ url: control.url, isReachable: true }),
      ]);
      expect(item.cause).toBe('ok');
    }
    expect(control.requests).toHaveLength(1);
    // Both processes took URLs: the one observation was shared between them, not probed by each.
    expect(site.requests.length).toBe(urls.length);
  });

  it('shares a failing control too: within the refresh interval it is not probed again', async () => {
    /** Runs a batch of `count` URLs with the failing control; answers the connections made to the control. */
    const connectionsFor = async (count: number) => {
      const before = failingControlConnections;
      const items = await completedBatchItems(api.apiUrl, {
        urls: urlsOf(count),
        controls: [failingControl.url('/')],
        timeoutMs: 3000,
      });
      for (const item of items)
        expect(item.report.controls).toEqual([expect.objectContaining({ isReachable: false })]);
      return failingControlConnections - before;
    };
    // One probe of a resetting control may connect more than once (the engine retries to tell a filter from a
    // server): the batch of one URL is the measure of one probe, and sixteen URLs cost no more.
    const oneProbe = await connectionsFor(1);
    expect(oneProbe).toBeGreaterThan(0);
    expect(await connectionsFor(16)).toBe(oneProbe);
  });
});
