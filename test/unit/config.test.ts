// The service's environment: defaults, parsing, and errors that name the variable at fault.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { usableCores } from '../../src/usable-cores.js';

describe('loadConfig', () => {
  it('gives working defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      redis: undefined,
      workerConcurrency: 16,
      apiKeys: [],
      isPrivateAllowed: false,
      probeDefaults: { resolvers: [], controls: [], timeoutMs: 10_000 },
      rateLimit: { points: 120, readPoints: 1200, windowSeconds: 60 },
    });
  });

  it("runs serve's worker processes one per usable core, at most 4, unless WORKER_PROCESSES says how many", () => {
    expect(loadConfig({}).workerProcesses).toBe(Math.min(usableCores(), 4));
    expect(loadConfig({ WORKER_PROCESSES: '1' }).workerProcesses).toBe(1);
    expect(loadConfig({ WORKER_PROCESSES: '12' }).workerProcesses).toBe(12);
    for (const bad of ['0', '65', '2.5', 'many'])
      expect(() => loadConfig({ WORKER_PROCESSES: bad }), bad).toThrow(/WORKER_PROCESSES/);
  });

  it('limits batches to 10,000 URLs and 4 running per key by default, and reads the BATCH_* variables', () => {
    expect(loadConfig({}).batch).toEqual({
      maxUrls: 10_000,
      maxRunning: 4,
      maxBodyBytes: 16 * 1024 * 1024,
      resultTtlSeconds: 86_400,
      workerConcurrency: 16,
      chunkSize: 32,
      controlRefreshMs: 30_000,
    });
    const config = loadConfig({
      BATCH_MAX_URLS: '500',
      BATCH_MAX_RUNNING: '2',
      BATCH_RESULT_TTL_SECONDS: '3600',
      BATCH_WORKER_CONCURRENCY: '8',
      BATCH_CHUNK_SIZE: '4',
      BATCH_CONTROL_REFRESH_SECONDS: '5',
    });
    expect(config.batch).toMatchObject({
      maxUrls: 500,
      maxRunning: 2,
      resultTtlSeconds: 3600,
      workerConcurrency: 8,
      chunkSize: 4,
      controlRefreshMs: 5000,
    });
    expect(() => loadConfig({ BATCH_MAX_URLS: '0' })).toThrow(/BATCH_MAX_URLS/);
    expect(() => loadConfig({ BATCH_CONTROL_REFRESH_SECONDS: '0' })).toThrow(/BATCH_CONTROL_REFRESH_SECONDS/);
    expect(() => loadConfig({ BATCH_CHUNK_SIZE: '0' })).toThrow(/BATCH_CHUNK_SIZE/);
  });

  it('parses lists, booleans and numbers', () => {
    const config = loadConfig({
      PORT: '9000',
      REDIS_URL: 'redis://:secret@127.0.0.1:6380/2',
      API_KEYS: ' key-aaaaaaaaaaaaaaaa , key-bbbbbbbbbbbbbbbb ',
      PROBE_ALLOW_PRIVATE: 'true',
      PROBE_RESOLVERS: '192.0.2.53, 198.51.100.53:53,[2001:db8::53]:53',
      PROBE_CONTROLS: 'https://example-org.test/',
      WORKER_CONCURRENCY: '4',
    });
    expect(config.port).toBe(9000);
    expect(config.apiKeys).toEqual(['key-aaaaaaaaaaaaaaaa', 'key-bbbbbbbbbbbbbbbb']);
    expect(config.isPrivateAllowed).toBe(true);
    expect(config.probeDefaults.resolvers).toEqual(['192.0.2.53', '198.51.100.53:53', '[2001:db8::53]:53']);
    expect(config.probeDefaults.controls).toEqual(['https://example-org.test/']);
    expect(config.workerConcurrency).toBe(4);
  });

  it.each([
    ['PORT', 'eighty'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['WORKER_CONCURRENCY', '0'],
    ['API_KEYS', 'short'],
    ['PROBE_ALLOW_PRIVATE', 'maybe'],
    ['PROBE_RESOLVERS', 'dns.example'],
    ['PROBE_CONTROLS', 'ftp://example-org.test/'],
    ['PROBE_TIMEOUT_MS', '50'],
    ['LOG_LEVEL', 'loud'],
  ])('refuses a bad %s with a message naming it', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration: ${name}`));
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' })).toMatchObject({ port: 8080, redis: undefined });
  });

  it('reads PROBE_CA_FILE into the probe defaults and names the variable when a file is missing or holds no certificate', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'reach-ca-config-'));
    try {
      const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
      writeFileSync(path.join(dir, 'a.pem'), pem);
      writeFileSync(path.join(dir, 'b.pem'), `${pem}${pem}`);
      writeFileSync(path.join(dir, 'junk.pem'), 'not a certificate');
      expect(loadConfig({}).probeDefaults.ca).toBeUndefined();
      const config = loadConfig({ PROBE_CA_FILE: `${path.join(dir, 'a.pem')}, ${path.join(dir, 'b.pem')}` });
      expect(config.probeDefaults.ca).toEqual([pem, `${pem}${pem}`]);
      expect(() => loadConfig({ PROBE_CA_FILE: path.join(dir, 'missing.pem') })).toThrow(
        /PROBE_CA_FILE: cannot read .*missing\.pem: ENOENT/,
      );
      expect(() => loadConfig({ PROBE_CA_FILE: path.join(dir, 'junk.pem') })).toThrow(
        /PROBE_CA_FILE: .*junk\.pem holds no PEM certificate/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
