// A worker whose probes at once may need more sockets than `ulimit -n` allows says so at start: past the limit
// its probes fail on this machine (local.resources_exhausted), and systemd's default soft limit is 1,024.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../support/redis.js';

const cli = resolve(import.meta.dirname, '../../../dist/cli.js');
let redis: TestRedis;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

/** Runs `reach worker` under `ulimit -n openFiles` until it has started; its log lines then, and it is stopped. */
async function startLogOf(openFiles: number, env: Record<string, string>): Promise<string[]> {
  const child: ChildProcess = spawn(
    '/bin/sh',
    ['-c', `ulimit -n ${openFiles} && exec "$@"`, 'sh', process.execPath, cli, 'worker'],
    {
      env: {
        PATH: process.env.PATH ?? '',
        REDIS_URL: redis.url,
        QUEUE_NAME: `open-files-${openFiles}`,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  const reader = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const exited = once(child, 'exit');
  const started = new Promise<void>((resolveStart, reject) => {
    reader.on('line', (line) => {
      lines.push(line);
      if (line.includes('"msg":"worker started"')) resolveStart();
    });
    exited.then(() => reject(new Error(`reach worker exited before it started: ${lines.join('\n')}`)));
  });
  const giveUp = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    await started;
    // The warning follows the start line in the same turn; one more moment lets it be read.
    await new Promise((resolveWait) => setTimeout(resolveWait, 300));
  } finally {
    clearTimeout(giveUp);
    child.kill('SIGTERM');
    await exited;
  }
  return lines;
}

describe('the open-file limit at start', { timeout: 60_000 }, () => {
  it('warns when the probes at once may need more open files than ulimit -n allows', async () => {
    const lines = await startLogOf(400, { WORKER_CONCURRENCY: '200' });
    const warnings = lines.filter((line) => line.includes('ulimit -n is 400'));
    expect(warnings).toHaveLength(1);
    const warning = JSON.parse(warnings[0] as string);
    expect(warning).toMatchObject({ level: 40, openFileLimit: 400, probesAtOnce: 200 + 16 + 64 });
    expect(warning.msg).toContain('local.resources_exhausted');
  });

  it('says nothing of it when the limit is enough for the defaults', async () => {
    const lines = await startLogOf(4096, {});
    expect(lines.some((line) => line.includes('ulimit -n is'))).toBe(false);
  });
});
