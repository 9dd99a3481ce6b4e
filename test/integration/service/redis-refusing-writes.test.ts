// A Redis that is up but refuses writes, as when the disk under its files fails or fills: the API says so on
// /readyz, and a worker that meets the refusal stops taking jobs for a growing while (BullMQ alone retries it at
// once, thousands of times a second, in the worker and in Redis), says so once, and takes jobs again once Redis
// accepts writes.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../../src/redis/embedded.js';
import { freeClosedPort } from '../../support/http-servers.js';
import { completedProbe, eventually, getJson, postJson, startTarget, startTestService } from './support.js';

const cli = resolve(import.meta.dirname, '../../../dist/cli.js');
const queueName = 'refusing-writes';

let dataDir: string;
let server: EmbeddedRedis;
let worker: ChildProcess | undefined;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'reach-refusing-writes-'));
  server = await startEmbeddedRedis({ dataDir: join(dataDir, 'redis') });
});

afterAll(async () => {
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    worker.kill('SIGKILL');
    await once(worker, 'exit');
  }
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

/**
 * Makes the server refuse writes the way a failing disk does: a snapshot that cannot be written (its directory is
 * gone) with a save point set, after which Redis answers MISCONF to every write and to PING.
 */
async function failItsDisk(client: Redis): Promise<void> {
  await client.config('SET', 'save', '3600 1');
  await rm(join(dataDir, 'redis'), { recursive: true, force: true });
  await client.bgsave();
  await eventually(
    async () => {
      const persistence = await client.info('persistence').catch((error: Error) => error.message);
      return /rdb_last_bgsave_status:err/.test(persistence) && /rdb_bgsave_in_progress:0/.test(persistence)
        ? true
        : undefined;
    },
    { what: 'the snapshot to fail', attempts: 100, intervalMs: 50 },
  );
  await expect(client.ping()).rejects.toThrow(/^MISCONF/);
}

describe('a Redis that refuses writes (its disk failing)', { timeout: 90_000 }, () => {
  it('is named on /readyz; a worker meeting it holds off taking jobs, warns once, and resumes when writes return', async () => {
    const holds: Array<() => void> = [];
    const target = await startTarget((_request, response) => {
      holds.push(() => response.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>'));
    });
    const api = await startTestService({
      redisUrl: server.url,
      roles: { api: true, worker: false },
      env: { QUEUE_NAME: queueName, PROBE_ALLOW_PRIVATE: 'true' },
    });
    const client = new Redis(server.url);
    const metricsPort = await freeClosedPort();
    const workerReady = () => getJson(`http://127.0.0.1:${metricsPort}/readyz`);
    try {
      // A worker of one probe at a time: the first probe held by the target, the second waiting in the queue.
      worker = spawn(process.execPath, [cli, 'worker'], {
        env: {
          PATH: process.env.PATH ?? '',
          LOG_LEVEL: 'debug',
          REDIS_URL: server.url,
          QUEUE_NAME: queueName,
          WORKER_CONCURRENCY: '1',
          WORKER_METRICS_PORT: String(metricsPort),
          PROBE_ALLOW_PRIVATE: 'true',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const logLines: string[] = [];
      const lines = createInterface({ input: worker.stdout as NodeJS.ReadableStream });
      let onStarted: () => void = () => {};
      const started = new Promise<void>((resolveStart) => {
        onStarted = resolveStart;
      });
      lines.on('line', (line) => {
        logLines.push(line);
        if (line.includes('"msg":"worker started"')) onStarted();
      });
      await started;
      const ids: string[] = [];
      for (const _ of [1, 2]) {
        const submitted = await postJson(`${api.apiUrl}/probe`, { url: target.url });
        expect(submitted.status).toBe(202);
        ids.push(String(submitted.body.id));
      }
      await target.nthRequest(1);

      await failItsDisk(client);
      const ready = await getJson(`${api.apiUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ status: 'not_ready', redis: 'refusing_writes' });

      // The first probe ends: its result cannot be written, and the worker turns to the second, whose take is
      // refused; the worker then holds off, and each try after a wait is refused once.
      const before = logLines.length;
      for (const release of holds) release();
      const held = await eventually(
        async () => {
          const answer = await workerReady();
          return answer.body.worker === 'held' ? answer : undefined;
        },
        { what: "the worker's /readyz to say held", attempts: 100, intervalMs: 50 },
      );
      expect(held.status).toBe(503);
      expect(held.body).toEqual({ status: 'not_ready', worker: 'held' });
      await new Promise((resolveWait) => setTimeout(resolveWait, 3000));
      const since = logLines.slice(before);
      const refusals = since.filter((line) => line.includes('MISCONF'));
      const holdWarnings = since.filter((line) =>
        line.includes('"msg":"Redis refuses writes: this worker takes no jobs until it accepts them again"'),
      );
      // Without the hold, BullMQ retried the take at once: thousands of refusals in these 3 s. With it, one per try
      // (tries 1 s, then 2 s apart), each logged once by the error logger (and the first result write's).
      expect(refusals.length).toBeGreaterThanOrEqual(1);
      expect(refusals.length).toBeLessThan(20);
      expect(holdWarnings).toHaveLength(1);
      expect(holdWarnings[0]).toContain('"level":40');
      expect(since.some((line) => line.includes('"msg":"Redis still refuses writes: taking no jobs'))).toBe(
        true,
      );

      // Redis accepts writes again (the operator lets it write without a snapshot): the worker takes the second
      // probe at its next try and says so once.
      await client.config('SET', 'stop-writes-on-bgsave-error', 'no');
      const second = await completedProbe(api.apiUrl, ids[1] as string, {
        what: 'the second probe to complete once Redis accepts writes',
        attempts: 150,
        intervalMs: 200,
      });
      expect(second.status).toBe('completed');
      const resumed = logLines.filter((line) =>
        line.includes('"msg":"Redis accepts writes again: this worker takes jobs"'),
      );
      expect(resumed).toHaveLength(1);
      const readyAgain = await workerReady();
      expect(readyAgain.status).toBe(200);
      expect(readyAgain.body).toEqual({ status: 'ready', worker: 'running' });
    } finally {
      // Without a save point, Redis stops without the snapshot it could not write (it would refuse to exit).
      await client.config('SET', 'save', '');
      client.disconnect();
      await api.close();
      await target.close();
    }
  });
});
