// A Redis that is up but refuses writes, as when the disk under its files fails or fills: the API says so on
// /readyz, and a worker that keeps meeting the refusal (BullMQ retries it at once, thousands of times a second)
// warns once instead of filling its log, which may sit on the same full disk.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../../src/redis/embedded.js';
import { eventually, getJson, postJson, startTarget, startTestService } from './support.js';

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

describe('a Redis that refuses writes (its disk failing)', { timeout: 60_000 }, () => {
  it('is named on /readyz, and a worker meeting it again and again warns once', async () => {
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
    try {
      // A worker of one probe at a time: the first probe held by the target, the second waiting in the queue.
      worker = spawn(process.execPath, [cli, 'worker'], {
        env: {
          PATH: process.env.PATH ?? '',
          LOG_LEVEL: 'debug',
          REDIS_URL: server.url,
          QUEUE_NAME: queueName,
          WORKER_CONCURRENCY: '1',
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
      for (const _ of [1, 2]) {
        const submitted = await postJson(`${api.apiUrl}/probe`, { url: target.url });
        expect(submitted.status).toBe(202);
      }
      await target.nthRequest(1);

      await failItsDisk(client);
      const ready = await getJson(`${api.apiUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ status: 'not_ready', redis: 'refusing_writes' });

      // The first probe ends: its result cannot be written, and the worker turns to the second, whose every take
      // is refused.
      const before = logLines.length;
      for (const release of holds) release();
      await new Promise((resolveWait) => setTimeout(resolveWait, 3000));
      const refusals = logLines.slice(before).filter((line) => line.includes('MISCONF'));
      const warnings = refusals.filter((line) => line.includes('"level":40'));
      // The storm happened (at debug), and it warned once (twice at most: a result refused, then the takes).
      expect(refusals.filter((line) => line.includes('"level":20')).length).toBeGreaterThan(100);
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      expect(warnings.length).toBeLessThanOrEqual(2);
      expect(warnings[0]).toContain(
        '"msg":"worker error: Redis refuses writes (repeats go to debug for a while)"',
      );
    } finally {
      // Without a save point, Redis stops without the snapshot it could not write (it would refuse to exit).
      await client.config('SET', 'save', '');
      client.disconnect();
      await api.close();
      await target.close();
    }
  });
});
