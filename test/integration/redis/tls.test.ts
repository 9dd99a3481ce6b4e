// TLS to Redis beyond one server: Sentinels and their data nodes on TLS ports only (database 3), and a Cluster
// whose nodes speak TLS only, clients and bus alike. Certificates from a throwaway CA the service is told to
// trust (REDIS_TLS_CA_FILE); nothing listens in plain text, so a probe that completes went over TLS.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type TestPki } from '../../support/certificates.js';
import { startCluster, startSentinelSet, type TlsFiles } from '../../support/redis-topologies.js';
import {
  completedProbe,
  type LoopbackTarget,
  postJson,
  startTarget,
  startTestService,
} from '../service/support.js';

let pki: TestPki;
let tls: TlsFiles;
let target: LoopbackTarget;

beforeAll(async () => {
  pki = createPki();
  // Cluster nodes authenticate each other on the bus: the certificate serves as a client's too.
  const leaf = pki.issue(['127.0.0.1', 'localhost'], { isClientToo: true });
  tls = { certFile: join(pki.dir, 'redis.pem'), keyFile: join(pki.dir, 'redis.key'), caFile: pki.caPath };
  writeFileSync(tls.certFile, leaf.cert);
  writeFileSync(tls.keyFile, leaf.key, { mode: 0o600 });
  target = await startTarget();
});

afterAll(async () => {
  await target?.close();
  pki?.remove();
});

/** A probe queued and one waited for, through the service at `apiUrl`. */
async function probesRun(apiUrl: string): Promise<void> {
  const queued = await postJson(`${apiUrl}/probe`, { url: target.url, timeoutMs: 5000 });
  expect(queued.status).toBe(202);
  const done = await completedProbe(apiUrl, queued.body.id, { what: 'the queued probe' });
  expect(done.report.verdict.cause).toBe('ok');
  const waited = await postJson(`${apiUrl}/probe?wait=30`, { url: target.url, timeoutMs: 5000 });
  expect(waited.status).toBe(200);
  expect(waited.body.report.verdict.cause).toBe('ok');
}

describe('Sentinels over TLS with REDIS_DB', { timeout: 120_000 }, () => {
  it('finds the master through TLS Sentinels, keeps its keys in database 3 and runs probes', async () => {
    const sentinel = await startSentinelSet({ tls });
    const service = await startTestService({
      env: {
        ...sentinel.env,
        REDIS_DB: '3',
        REDIS_TLS: 'true',
        REDIS_SENTINEL_TLS: 'true',
        REDIS_TLS_CA_FILE: tls.caFile,
        QUEUE_NAME: 'sentinel-tls',
        PROBE_ALLOW_PRIVATE: 'true',
      },
    }).catch(async (error) => {
      await sentinel.dispose();
      throw error;
    });
    try {
      expect(service.redisDescription).toMatch(/ db 3, data over TLS, Sentinels over TLS$/);
      await probesRun(service.apiUrl);
      const cli = (...args: string[]) => sentinel.cli(sentinel.master.port, ...args);
      expect(Number(await cli('-n', '3', 'DBSIZE'))).toBeGreaterThan(0);
      expect(Number(await cli('-n', '0', 'DBSIZE'))).toBe(0);
    } finally {
      await service.close();
      await sentinel.dispose();
    }
  });
});

describe('a Cluster over TLS', { timeout: 150_000 }, () => {
  it('reaches every node, discovered ones too, over TLS and runs probes', async () => {
    const cluster = await startCluster(3, { tls });
    const service = await startTestService({
      env: {
        ...cluster.env,
        REDIS_TLS: 'true',
        REDIS_TLS_CA_FILE: tls.caFile,
        QUEUE_NAME: 'cluster-tls',
        PROBE_ALLOW_PRIVATE: 'true',
      },
    }).catch(async (error) => {
      await cluster.dispose();
      throw error;
    });
    try {
      expect(service.redisDescription).toMatch(/^cluster via .* over TLS$/);
      await probesRun(service.apiUrl);
      // The queues' keys live on one master, reached over TLS like the seed nodes.
      const master = await cluster.masterOf('{cluster-tls}');
      expect((await cluster.cli(master.port, '--scan', '--pattern', '{cluster-tls}*')).trim()).not.toBe('');
    } finally {
      await service.close();
      await cluster.dispose();
    }
  });
});
