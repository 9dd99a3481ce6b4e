// Where Redis is, from the environment: a URL or socket, Sentinels, or Cluster nodes, and the combinations refused.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { keyspaceFor } from '../../../src/redis/connection.js';
import {
  describeRedisTarget,
  parseHostPorts,
  parseRedisUrl,
  type RedisTarget,
} from '../../../src/redis/target.js';

/** The one line loadConfig fails with, or undefined when it accepts the environment. */
function failureOf(environment: Record<string, string>): string | undefined {
  try {
    loadConfig(environment);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('\n');
    return (error as Error).message;
  }
}

describe('REDIS_URL', () => {
  it('reads a redis:// URL into host, port, database and credentials', () => {
    expect(loadConfig({ REDIS_URL: 'redis://user:s%40cret@127.0.0.1:6380/2' }).redis).toEqual({
      mode: 'server',
      host: '127.0.0.1',
      port: 6380,
      db: 2,
      isTls: false,
      auth: { username: 'user', password: 's@cret' },
    });
  });

  it('reads rediss:// as TLS, an IPv6 host without brackets and the default port', () => {
    expect(parseRedisUrl('rediss://[::1]')).toMatchObject({ host: '::1', port: 6379, db: 0, isTls: true });
  });

  it.each([
    ['unix:///run/redis/redis.sock', { path: '/run/redis/redis.sock', db: 0 }],
    ['unix:///tmp/r.sock?db=3', { path: '/tmp/r.sock', db: 3 }],
    ['redis+unix:///var/run/redis%20x.sock', { path: '/var/run/redis x.sock', db: 0 }],
  ])('reads the socket URL %s', (url, expected) => {
    expect(loadConfig({ REDIS_URL: url }).redis).toEqual({ mode: 'socket', ...expected, auth: {} });
  });

  it('gives a socket the password of REDIS_PASSWORD, which a socket URL does not carry', () => {
    expect(
      loadConfig({ REDIS_URL: 'unix:///tmp/r.sock', REDIS_USERNAME: 'reach', REDIS_PASSWORD: 'pw' }).redis,
    ).toMatchObject({ mode: 'socket', auth: { username: 'reach', password: 'pw' } });
  });

  it.each([
    ['http://127.0.0.1:6379', /^invalid configuration: REDIS_URL: expected redis:\/\//],
    ['unix://host/tmp/r.sock', /REDIS_URL: a socket URL has no host or credentials/],
    ['unix:///', /REDIS_URL: the socket URL names no path/],
    ['unix:///tmp/r.sock?password=x', /REDIS_URL: unknown socket URL parameter "password"/],
    ['unix:///tmp/r.sock?db=x', /REDIS_URL: the database must be a number/],
    ['redis://127.0.0.1/abc', /REDIS_URL: the database must be a number/],
    ['not a url', /REDIS_URL: expected/],
  ])('refuses %s naming REDIS_URL', (url, pattern) => {
    expect(failureOf({ REDIS_URL: url })).toMatch(pattern);
  });
});

describe('REDIS_SENTINELS', () => {
  it('reads the Sentinels, the master group and both passwords', () => {
    expect(
      loadConfig({
        REDIS_SENTINELS: '127.0.0.1:26379, [::1]:26380,sentinel-c.internal:26381',
        REDIS_SENTINEL_NAME: 'reach',
        REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
        REDIS_PASSWORD: 'data-secret',
      }).redis,
    ).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: '127.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
        { host: 'sentinel-c.internal', port: 26381 },
      ],
      masterName: 'reach',
      sentinelPassword: 'sentinel-secret',
      db: 0,
      auth: { password: 'data-secret' },
    });
  });

  it.each([
    [{ REDIS_SENTINELS: '127.0.0.1:26379' }, /REDIS_SENTINEL_NAME: required with REDIS_SENTINELS/],
    [{ REDIS_SENTINEL_NAME: 'reach' }, /REDIS_SENTINEL_NAME: only means something with REDIS_SENTINELS/],
    [
      { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINEL_PASSWORD: 'x' },
      /REDIS_SENTINEL_PASSWORD: only means something with REDIS_SENTINELS/,
    ],
    [
      { REDIS_SENTINELS: '127.0.0.1', REDIS_SENTINEL_NAME: 'reach' },
      /REDIS_SENTINELS: "127.0.0.1" is not host:port/,
    ],
    [
      { REDIS_SENTINELS: '127.0.0.1:0', REDIS_SENTINEL_NAME: 'reach' },
      /REDIS_SENTINELS: "127.0.0.1:0" is not host:port/,
    ],
    [
      { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'a b' },
      /REDIS_SENTINEL_NAME: letters, digits/,
    ],
    [
      { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'r' },
      /REDIS_SENTINELS: cannot be combined with REDIS_URL/,
    ],
  ])('refuses %o naming the variable at fault', (environment, pattern) => {
    expect(failureOf(environment)).toMatch(pattern);
  });
});

describe('REDIS_CLUSTER_NODES', () => {
  it('reads the seed nodes and the credentials', () => {
    expect(
      loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001', REDIS_PASSWORD: 'pw' }).redis,
    ).toEqual({
      mode: 'cluster',
      nodes: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
      ],
      auth: { password: 'pw' },
    });
  });

  it.each([
    [
      { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_CLUSTER_NODES: '127.0.0.1:7000' },
      /REDIS_CLUSTER_NODES: cannot be combined with REDIS_SENTINELS/,
    ],
    [
      { REDIS_URL: 'unix:///tmp/r.sock', REDIS_CLUSTER_NODES: '127.0.0.1:7000' },
      /REDIS_CLUSTER_NODES: cannot be combined with REDIS_URL/,
    ],
    [{ REDIS_CLUSTER_NODES: ' , ' }, /REDIS_CLUSTER_NODES: expected host:port/],
    [{ REDIS_URL: 'redis://127.0.0.1', REDIS_PASSWORD: 'pw' }, /REDIS_PASSWORD: with a redis:\/\/ URL/],
    [{ REDIS_PASSWORD: 'pw' }, /REDIS_PASSWORD: set with no Redis named/],
  ])('refuses %o naming the variable at fault', (environment, pattern) => {
    expect(failureOf(environment)).toMatch(pattern);
  });
});

describe('REDIS_DB, REDIS_TLS, REDIS_SENTINEL_TLS and REDIS_TLS_CA_FILE', () => {
  const sentinels = { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_NAME: 'reach' };
  let caFile: string;
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'reach-target-'));
    caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  });

  it('gives Sentinels a database, TLS to the data nodes and to the Sentinels, trusting the CA file', () => {
    const target = loadConfig({
      ...sentinels,
      REDIS_DB: '3',
      REDIS_TLS: 'true',
      REDIS_SENTINEL_TLS: 'true',
      REDIS_TLS_CA_FILE: caFile,
    }).redis;
    expect(target).toMatchObject({ mode: 'sentinel', db: 3, tls: { ca: expect.stringContaining('BEGIN') } });
    expect(target).toHaveProperty('sentinelTls.ca');
    expect(describeRedisTarget(target as RedisTarget)).toBe(
      'sentinel reach via 127.0.0.1:26379 db 3, data over TLS, Sentinels over TLS',
    );
  });

  it('gives a Cluster TLS with the system CAs, and a rediss:// URL the CA file', () => {
    const cluster = loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_TLS: 'yes' }).redis;
    expect(cluster).toMatchObject({ mode: 'cluster', tls: {} });
    expect(describeRedisTarget(cluster as RedisTarget)).toBe('cluster via 127.0.0.1:7000 over TLS');
    expect(loadConfig({ REDIS_URL: 'rediss://h:6380', REDIS_TLS_CA_FILE: caFile }).redis).toMatchObject({
      isTls: true,
      tls: { ca: expect.stringContaining('BEGIN') },
    });
  });

  it.each([
    [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_DB: '1' }, /REDIS_DB: a Cluster has database 0 only/],
    [{ REDIS_URL: 'redis://h', REDIS_DB: '1' }, /REDIS_DB: the database goes in REDIS_URL/],
    [{ ...sentinels, REDIS_DB: '16' }, /REDIS_DB: the database must be a number 0-15/],
    [{ REDIS_URL: 'redis://h', REDIS_TLS: 'true' }, /REDIS_TLS: with REDIS_URL, TLS is named by rediss:\/\//],
    [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_TLS: 'maybe' }, /REDIS_TLS: expected true or false/],
    [{ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_SENTINEL_TLS: '1' }, /REDIS_SENTINEL_TLS: only means/],
    [{ ...sentinels, REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }, /REDIS_TLS_CA_FILE: no TLS to trust it for/],
    [
      { ...sentinels, REDIS_TLS: '1', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' },
      /REDIS_TLS_CA_FILE: cannot read it: ENOENT/,
    ],
    [{ REDIS_TLS: 'true' }, /REDIS_TLS: set with no Redis named/],
  ])('refuses %o naming the variable at fault', (environment, pattern) => {
    expect(failureOf(environment)).toMatch(pattern);
  });
});

describe('the key space', () => {
  it('keeps the names of one server and hash-tags each group on a Cluster', () => {
    const server = keyspaceFor(parseRedisUrl('redis://127.0.0.1'), 'reach-probes');
    expect(server.bullPrefix).toBe('bull');
    expect(server.group('reach-probes:monitor')).toBe('reach-probes:monitor');
    const cluster = keyspaceFor(
      { mode: 'cluster', nodes: parseHostPorts('127.0.0.1:7000'), auth: {} },
      'reach-probes',
    );
    expect(cluster.bullPrefix).toBe('{reach-probes}');
    expect(cluster.group('reach-probes:monitor')).toBe('{reach-probes:monitor}');
  });

  it('describes a target without its password', () => {
    for (const target of [
      parseRedisUrl('redis://:hunter2@127.0.0.1:6380/1'),
      {
        mode: 'sentinel' as const,
        sentinels: parseHostPorts('[::1]:26379'),
        masterName: 'm',
        sentinelPassword: 'hunter2',
        db: 0,
        auth: { password: 'hunter2' },
      },
    ]) {
      expect(describeRedisTarget(target)).not.toContain('hunter2');
    }
    expect(describeRedisTarget(parseRedisUrl('unix:///tmp/r.sock?db=2'))).toBe('unix:///tmp/r.sock?db=2');
  });
});
