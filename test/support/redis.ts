// A real redis-server per test run: free loopback port, throwaway data directory, stopped by pid.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../src/redis/embedded.js';

export interface TestRedis {
  /** redis://:password@127.0.0.1:port */
  url: string;
  port: number;
  pid(): number;
  /** Stops the server (SIGTERM to its pid) and waits for it to exit; the data directory stays for restart(). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same password and data (append-only file). */
  restart(): Promise<void>;
  /** Stops it and removes its data directory. */
  dispose(): Promise<void>;
}

export async function startRedis(): Promise<TestRedis> {
  const dataDir = await mkdtemp(join(tmpdir(), 'reach-test-redis-'));
  let server: EmbeddedRedis | undefined = await startEmbeddedRedis({ dataDir });
  const { port, password, url } = server;
  return {
    url,
    port,
    pid: () => server?.pid ?? 0,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async restart() {
      await server?.stop();
      server = await startEmbeddedRedis({ dataDir, port, password });
    },
    async dispose() {
      await server?.stop();
      server = undefined;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
