// A batch with vantages probes each vantage's controls once for the batch, not once per URL: the vantage "local"
// (the API's own worker) and the vantage "isp-b", served by two worker processes, each resolve the controls' names
// their own way, to control servers of their own on loopback that count what reaches them. A lone POST /probe with
// vantages still probes its controls with its URL; a failing control is probed again only after the refresh.
import { once } from 'node:events';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSharedControls, sharedControlsKey } from '../../../src/batch/shared-controls.js';
import { probeOptionsFrom } from '../../../src/requests/probe-options.js';
import type { ProbeRunner } from '../../../src/worker/processor.js';
import { type DnsTestServer, startDnsServer } from '../../support/dns-server.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { completedBatchItems, range } from './batch-support.js';
import { type JsonBody, type LoopbackTarget, postJson, startTarget, startTestService } from './support.js';

type Service = Awaited<ReturnType<typeof startTestService>>;

/** A resetting server on one loopback address and port: counts the connections made to it. */
interface CountingResetter {
  port: number;
  connections(): number;
  close(): Promise<void>;
}

async function startCountingResetter(host: string, port: number): Promise<CountingResetter> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', () => socket.resetAndDestroy());
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The probes a control server saw for one name: requests whose Host is the control's own `name:port`. A probe of a
 * plain-http page also replays it and asks the address with a neutral Host (the page check), which are not
 * counted; an original that stalls under load is repeated once by the differential, which is.
 */
const probesSeenBy = (server: LoopbackTarget, name: string) =>
  server.requests.filter((request) => request.headers.host === `${name}:${server.port}`).length;

/** Each vantage's controls in a comparison, by vantage name. */
const controlsByVantage = (report: JsonBody): Record<string, Array<{ url: string; isReachable: boolean }>> =>
  Object.fromEntries(report.vantages.map((vantage: JsonBody) => [vantage.name, vantage.report?.controls]));

/**
 * How many probes of the controls a vantage's reports rest on: the distinct observations among them (two probes
 * never have the same timings to the microsecond; one shared observation is the same in every report).
 */
const observationsAt = (reports: JsonBody[], vantage: string) =>
  new Set(reports.map((report) => JSON.stringify(controlsByVantage(report)[vantage]))).size;

let redis: TestRedis;
let site: LoopbackTarget;
/** 127.0.0.1:P, where "local" finds control.internal and mixed.internal. */
let localControl: LoopbackTarget;
/** 127.0.0.2:P, where isp-b finds control.internal. */
let ispControl: LoopbackTarget;
/** 127.0.0.3:P, where isp-b finds mixed.internal: it resets every request. */
let ispResetter: CountingResetter;
let localDns: DnsTestServer;
let ispDns: DnsTestServer;
let api: Service;
const ispWorkers: Service[] = [];
/** Parts of a batch each isp-b process ran, by process. */
const ispParts = [0, 0];

beforeAll(async () => {
  redis = await startRedis();
  // A page that takes a moment, so a part holds its isp-b process (concurrency 1) and the other takes the next.
  site = await startTarget((_request, response) => {
    const timer = setTimeout(() => response.end('<html>ok</html>'), 200);
    response.on('close', () => clearTimeout(timer));
  });
  localControl = await startTarget();
  ispControl = await startTarget(undefined, '127.0.0.2', localControl.port);
  ispResetter = await startCountingResetter('127.0.0.3', localControl.port);
  localDns = await startDnsServer({
    'control.internal': { a: ['127.0.0.1'] },
    'mixed.internal': { a: ['127.0.0.1'] },
  });
  ispDns = await startDnsServer({
    'control.internal': { a: ['127.0.0.2'] },
    'mixed.internal': { a: ['127.0.0.3'] },
  });
  const common = {
    QUEUE_NAME: 'bvcontrols',
    PROBE_ALLOW_PRIVATE: 'true',
    VANTAGE_HEARTBEAT_SECONDS: '1',
    BATCH_WORKER_CONCURRENCY: '4',
  };
  api = await startTestService({
    redisUrl: redis.url,
    env: { ...common, PROBE_RESOLVERS: localDns.resolver },
  });
  for (const index of [0, 1]) {
    const countParts =
      (runner: ProbeRunner): ProbeRunner =>
      (data, signal) => {
        if (data.fanOut?.batchId) ispParts[index] = (ispParts[index] ?? 0) + 1;
        return runner(data, signal);
      };
    ispWorkers.push(
      await startTestService({
        redisUrl: redis.url,
        roles: { api: false, worker: true },
        env: { ...common, PROBE_RESOLVERS: ispDns.resolver, VANTAGE_NAME: 'isp-b', WORKER_CONCURRENCY: '1' },
        wrapRunner: countParts,
      }),
    );
  }
  // Every code path once (fan-out, parts, shared controls, comparison), so the batches measured do not pay for
  // loading them; its control is the site itself, which no assertion counts.
  await runBatch(urlsOf(2, 'warm-up'), [`${site.url}warm-up-control`]);
});

afterAll(async () => {
  for (const worker of ispWorkers) await worker.close();
  await api?.close();
  await Promise.all(
    [site, localControl, ispControl, ispResetter, localDns, ispDns].map((one) => one?.close()),
  );
  await redis?.dispose();
});

const urlsOf = (count: number, batch: string) =>
  Array.from({ length: count }, (_, index) => `${site.url}${batch}/${index}`);

/** Runs a batch from both vantages with the controls; every URL compared from both. */
async function runBatch(urls: string[], controls: string[]): Promise<JsonBody[]> {
  const items = await completedBatchItems(api.apiUrl, { urls, vantages: 'all', controls, timeoutMs: 3000 });
  for (const item of items) {
    expect(item.status, item.url).toBe('completed');
    expect(
      item.report.vantages.map((vantage: JsonBody) => [vantage.name, vantage.status]),
      item.url,
    ).toEqual([
      ['isp-b', 'completed'],
      ['local', 'completed'],
    ]);
  }
  return items;
}

describe('a batch with vantages and controls', () => {
  it("probes each vantage's controls about once for the batch, shared by both processes of isp-b", async () => {
    const control = `http://control.internal:${localControl.port}/`;
    const partsBefore = [...ispParts];
    const items = await runBatch(urlsOf(16, 'healthy'), [control]);
    const reports = items.map((item) => item.report);
    // Each comparison carries the controls each vantage used: its own, seen through its own resolver.
    for (const report of reports)
      expect(controlsByVantage(report), report.url).toEqual({
        'isp-b': [expect.objectContaining({ url: control, isReachable: true })],
        local: [expect.objectContaining({ url: control, isReachable: true })],
      });
    // Both isp-b processes ran parts of the batch (one part at a time each, a part holding its process 200 ms).
    const partsRun = ispParts.map((count, index) => count - (partsBefore[index] ?? 0));
    expect(partsRun[0]).toBeGreaterThan(0);
    expect(partsRun[1]).toBeGreaterThan(0);
    expect((partsRun[0] ?? 0) + (partsRun[1] ?? 0)).toBe(16);
    // One probe per vantage, shared by its parts (at isp-b, through Redis): sixteen per vantage before. A second
    // is allowed for a part that could not wait longer for the first without missing its own deadline (it then
    // probes them with its URL, shared-controls.ts), which a loaded machine can cause.
    for (const vantage of ['local', 'isp-b']) {
      expect(observationsAt(reports, vantage), vantage).toBeGreaterThanOrEqual(1);
      expect(observationsAt(reports, vantage), vantage).toBeLessThanOrEqual(2);
    }
    for (const [server, vantage] of [
      [localControl, 'local'],
      [ispControl, 'isp-b'],
    ] as const) {
      expect(probesSeenBy(server, 'control.internal'), vantage).toBeGreaterThanOrEqual(1);
      expect(probesSeenBy(server, 'control.internal'), vantage).toBeLessThanOrEqual(
        2 * observationsAt(reports, vantage),
      );
    }
  });

  it('keeps a control failing at one vantage to that vantage, and does not probe it again within the refresh', async () => {
    const control = `http://mixed.internal:${localControl.port}/`;
    /** Runs a batch of `count` URLs: the reports, and what reached each vantage's control. */
    const runWith = async (count: number, name: string) => {
      const localBefore = probesSeenBy(localControl, 'mixed.internal');
      const ispBefore = ispResetter.connections();
      const items = await runBatch(urlsOf(count, name), [control]);
      const reports = items.map((item) => item.report);
      for (const report of reports)
        expect(controlsByVantage(report), report.url).toEqual({
          'isp-b': [expect.objectContaining({ url: control, isReachable: false })],
          local: [expect.objectContaining({ url: control, isReachable: true })],
        });
      return {
        reports,
        localProbes: probesSeenBy(localControl, 'mixed.internal') - localBefore,
        ispConnections: ispResetter.connections() - ispBefore,
      };
    };
    // One probe of a resetting control connects more than once (the engine asks again, with a neutral Host and
    // as it was, to tell a filter from the server): a batch of one URL measures one probe.
    const one = await runWith(1, 'mixed-one');
    expect(one.ispConnections).toBeGreaterThan(0);
    const many = await runWith(16, 'mixed-many');
    for (const vantage of ['local', 'isp-b'])
      expect(observationsAt(many.reports, vantage), vantage).toBeLessThanOrEqual(2);
    expect(many.localProbes).toBeGreaterThanOrEqual(1);
    expect(many.localProbes).toBeLessThanOrEqual(2 * observationsAt(many.reports, 'local'));
    // The batch ends well within the 30 s refresh: the failing control is not probed again for later URLs.
    expect(many.ispConnections).toBe(one.ispConnections * observationsAt(many.reports, 'isp-b'));
  });
});

describe('POST /probe with vantages and controls (no batch)', () => {
  it('probes its controls with its URL at each vantage, every time', async () => {
    const control = `http://control.internal:${localControl.port}/`;
    const localBefore = probesSeenBy(localControl, 'control.internal');
    const ispBefore = probesSeenBy(ispControl, 'control.internal');
    const reports: JsonBody[] = [];
    for (const path of ['lone/1', 'lone/2']) {
      const answer = await postJson(`${api.apiUrl}/probe?wait=30`, {
        url: `${site.url}${path}`,
        vantages: 'all',
        controls: [control],
        timeoutMs: 3000,
      });
      expect(answer.status).toBe(200);
      expect(controlsByVantage(answer.body.report)).toEqual({
        'isp-b': [expect.objectContaining({ url: control, isReachable: true })],
        local: [expect.objectContaining({ url: control, isReachable: true })],
      });
      reports.push(answer.body.report);
    }
    // Two probes, two observations of the controls at each vantage, each made with its probe.
    expect(observationsAt(reports, 'local')).toBe(2);
    expect(observationsAt(reports, 'isp-b')).toBe(2);
    expect(probesSeenBy(localControl, 'control.internal') - localBefore).toBeGreaterThanOrEqual(2);
    expect(probesSeenBy(ispControl, 'control.internal') - ispBefore).toBeGreaterThanOrEqual(2);
  });
});

describe("a vantage's shared controls across two processes (createSharedControls on a real Redis)", () => {
  let client: Redis;
  let resetter: CountingResetter;

  beforeAll(async () => {
    client = new Redis(redis.url, { maxRetriesPerRequest: null });
    resetter = await startCountingResetter('127.0.0.1', 0);
  });

  afterAll(async () => {
    await resetter?.close();
    client?.disconnect();
  });

  it('probes a failing control again after the refresh interval, by one process, never per part', async () => {
    const batchId = '6f1c2a40-6a41-4d0a-9b8e-3c1f2e0b5a11';
    const settings = {
      redis: client,
      prefix: 'sharedtest',
      ttlSeconds: 60,
      vantage: 'isp-b',
      refreshMs: 1500,
    };
    const processes = [createSharedControls(settings), createSharedControls(settings)];
    const key = sharedControlsKey('sharedtest', { batchId, vantage: 'isp-b' });
    const timeoutMs = 2000;
    const options = {
      ...probeOptionsFrom(
        { url: 'http://127.0.0.1:9/', controls: [`http://127.0.0.1:${resetter.port}/`], timeoutMs },
        { resolvers: [], controls: [], timeoutMs, maxRedirects: 5, maxBodyBytes: 1 << 20 },
      ),
      isAddressAllowed: () => undefined,
    };
    /** A part as a fan-out sends it: with its deadline, and the batch it belongs to. */
    const part = (index: number) => ({
      url: `http://127.0.0.1:9/${index}`,
      notAfterMs: Date.now() + timeoutMs + 3000,
      fanOut: { id: `fan-${index}`, vantage: 'isp-b', size: 2, batchId },
    });
    /** Twenty parts at once, half on each process; every one gets the failing control's results. */
    const twentyParts = async (from: number) => {
      const answers = await Promise.all(
        range(20).map((index) => processes[index % 2]?.controlResultsFor(part(from + index), options)),
      );
      for (const results of answers)
        expect(results).toEqual([expect.objectContaining({ isReachable: false })]);
    };
    try {
      await twentyParts(0);
      const oneProbe = resetter.connections();
      expect(oneProbe).toBeGreaterThan(0);
      const firstProbedAtMs = await probedAtMs(key);
      await twentyParts(20);
      expect(resetter.connections()).toBe(oneProbe);
      // Past the interval the failing control is probed again, beside the parts (they get the last results).
      for (let calls = 0; resetter.connections() === oneProbe; calls++) {
        if (calls > 400) throw new Error('the failing control was never probed again');
        const results = await processes[calls % 2]?.controlResultsFor(part(100 + calls), options);
        expect(results).toEqual([expect.objectContaining({ isReachable: false })]);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // The refresh was one probe, by one of the two processes (the other waited for what it wrote); the parts
      // right after it do not repeat it.
      await refreshWritten(key, firstProbedAtMs);
      const refreshed = resetter.connections();
      expect(refreshed).toBe(2 * oneProbe);
      await twentyParts(1000);
      expect(resetter.connections()).toBe(refreshed);
    } finally {
      for (const shared of processes) shared.close();
    }
  });

  /** When the controls kept under `key` were probed. */
  async function probedAtMs(key: string): Promise<number> {
    const text = await client.get(key);
    if (text === null) throw new Error(`no controls kept under ${key}`);
    return (JSON.parse(text) as { probedAtMs: number }).probedAtMs;
  }

  /** Waits (bounded) until the controls under `key` were written again, after `sinceMs`. */
  async function refreshWritten(key: string, sinceMs: number): Promise<void> {
    for (let attempt = 0; (await probedAtMs(key)) === sinceMs; attempt++) {
      if (attempt > 200) throw new Error('the refreshed controls were never written');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});
