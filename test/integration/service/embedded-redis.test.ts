// The private redis-server of `reach serve`: loopback with a password, data that survives a restart, one owner.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, isAlive, startEmbeddedRedis } from '../../../src/redis/embedded.js';
import { isRunning } from '../../support/process.js';

let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'reach-embedded-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('startEmbeddedRedis', () => {
  it('keeps data written before a stop in its append-only file', async () => {
    const first = await startEmbeddedRedis({ dataDir });
    const client = new Redis(first.url);
    await client.set('reach:test', 'kept');
    await client.quit();
    await first.stop();

    const second = await startEmbeddedRedis({ dataDir });
    const again = new Redis(second.url);
    try {
      expect(await again.get('reach:test')).toBe('kept');
    } finally {
      await again.quit();
      await second.stop();
    }
  });

  it('listens on loopback only and refuses clients without the password', async () => {
    const server = await startEmbeddedRedis({ dataDir });
    try {
      expect(server.url).toMatch(/^redis:\/\/:[0-9a-f]{48}@127\.0\.0\.1:\d+$/);
      const socket = connect(server.port, '127.0.0.1');
      socket.write('GET reach:test\r\n');
      const [reply] = (await once(socket, 'data')) as [Buffer];
      socket.destroy();
      expect(reply.toString('utf8')).toMatch(/^-NOAUTH/);
    } finally {
      await server.stop();
    }
  });

  it('rewrites its append-only file only once it is past 512 MB', async () => {
    const server = await startEmbeddedRedis({ dataDir });
    const client = new Redis(server.url);
    try {
      expect(await client.config('GET', 'auto-aof-rewrite-min-size')).toEqual([
        'auto-aof-rewrite-min-size',
        String(512 * 1024 * 1024),
      ]);
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
    } finally {
      await client.quit();
      await server.stop();
    }
  });

  it('refuses a data directory another running instance owns', async () => {
    const owner = await startEmbeddedRedis({ dataDir });
    try {
      await expect(startEmbeddedRedis({ dataDir })).rejects.toBeInstanceOf(DataDirInUseError);
    } finally {
      await owner.stop();
    }
  });

  it('stops the redis-server a killed process left on the directory before starting its own, keeping its data', async () => {
    const orphanDir = await mkdtemp(join(tmpdir(), 'reach-embedded-orphan-'));
    // A process that owns an embedded Redis, wrote to it, and is then killed with no chance to stop it.
    const embeddedModule = resolve(import.meta.dirname, '../../../dist/redis/embedded.js');
    const owner = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
        const { startEmbeddedRedis } = await import(${JSON.stringify(embeddedModule)});
        const { Redis } = await import('ioredis');
        const server = await startEmbeddedRedis({ dataDir: ${JSON.stringify(orphanDir)} });
        const client = new Redis(server.url);
        await client.set('reach:orphan', 'kept');
        await client.quit();
        console.log(JSON.stringify({ redisPid: server.pid }));
        setInterval(() => {}, 1000);
        `,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: resolve(import.meta.dirname, '../../..') },
    );
    let orphanPid = 0;
    try {
      const [line] = (await once(createInterface({ input: owner.stdout }), 'line')) as [string];
      orphanPid = (JSON.parse(line) as { redisPid: number }).redisPid;
      const exited = once(owner, 'exit');
      owner.kill('SIGKILL');
      await exited;
      expect(readFileSync(`/proc/${orphanPid}/cmdline`, 'utf8')).toMatch(/^redis-server/);

      const warnings: string[] = [];
      const next = await startEmbeddedRedis({
        dataDir: orphanDir,
        onWarning: (message) => warnings.push(message),
      });
      const client = new Redis(next.url);
      try {
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toContain(`redis-server ${orphanPid}`);
        // Ended: gone, or a zombie where nothing reaps orphans; its data flushed and read by the new one.
        expect(isRunning(orphanPid)).toBe(false);
        expect(await client.get('reach:orphan')).toBe('kept');
      } finally {
        await client.quit();
        await next.stop();
      }
    } finally {
      if (owner.exitCode === null && owner.signalCode === null) owner.kill('SIGKILL');
      if (orphanPid > 0 && isAlive(orphanPid)) process.kill(orphanPid, 'SIGKILL');
      await rm(orphanDir, { recursive: true, force: true });
    }
  });

  it('starts the server again on the same port, with its data, when it exits on its own', async () => {
    const warnings = warningsWaiter();
    const server = await startEmbeddedRedis({ dataDir, onWarning: warnings.onWarning });
    const restarted = warnings.until('started again');
    const firstPid = server.pid;
    const client = new Redis(server.url);
    client.on('error', () => {}); // refused while the server is away: it reconnects by itself
    try {
      await client.set('reach:restart', 'kept');
      process.kill(firstPid, 'SIGKILL');
      await restarted;
      expect(warnings.all[0]).toMatch(
        new RegExp(`^redis-server ${firstPid} exited on its own \\(SIGKILL\\)`),
      );
      expect(server.pid).not.toBe(firstPid);
      expect(isRunning(server.pid)).toBe(true);
      expect(readFileSync(join(dataDir, 'reach-redis.lock'), 'utf8')).toBe(`${process.pid} ${server.pid}`);
      // The client reconnects to the same address by itself, and finds what was written before the kill.
      expect(await client.get('reach:restart')).toBe('kept');
    } finally {
      client.disconnect();
      await server.stop();
    }
    expect(isRunning(server.pid)).toBe(false);
  });

  it('starts nothing once stopped while it waited to start the server again', async () => {
    const warnings = warningsWaiter();
    const server = await startEmbeddedRedis({ dataDir, onWarning: warnings.onWarning });
    const waited = warnings.until('exited on its own');
    const { port } = server;
    process.kill(server.pid, 'SIGKILL');
    await waited;
    await server.stop();
    // Past the first restart's wait (500 ms): still nothing listens on its port.
    await new Promise((resolveWait) => setTimeout(resolveWait, 1500));
    const isListening = await new Promise<boolean>((resolveConnect) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolveConnect(true);
      });
      socket.once('error', () => resolveConnect(false));
    });
    expect(isListening).toBe(false);
  });

  it('kills a server that does not exit within the stop deadline (stopped, or stuck on its disk)', async () => {
    const warnings: string[] = [];
    const server = await startEmbeddedRedis({
      dataDir,
      stopTimeoutMs: 500,
      onWarning: (message) => warnings.push(message),
    });
    const { pid } = server;
    // Stopped: it cannot act on SIGTERM; only SIGKILL ends it.
    process.kill(pid, 'SIGSTOP');
    try {
      await server.stop();
      expect(isRunning(pid)).toBe(false);
      expect(warnings).toEqual([
        `redis-server ${pid} did not exit within 500 ms of SIGTERM: killed (SIGKILL)`,
      ]);
    } finally {
      if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

/** Collects the warnings of a server, and resolves `until(text)` at the first warning holding that text. */
function warningsWaiter() {
  const all: string[] = [];
  const waiting: Array<{ text: string; resolve: () => void }> = [];
  return {
    all,
    onWarning(message: string) {
      all.push(message);
      for (const each of waiting.filter((waiter) => message.includes(waiter.text))) each.resolve();
    },
    until(text: string): Promise<void> {
      if (all.some((message) => message.includes(text))) return Promise.resolve();
      return new Promise((resolve) => waiting.push({ text, resolve }));
    },
  };
}
