// The private redis-server of `reach serve`: loopback with a password, data that survives a restart, one owner.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirInUseError, startEmbeddedRedis } from '../../../src/redis/embedded.js';

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
});
