// Where Redis is: one server by URL, a unix socket, Sentinels guarding a master, or a Cluster's seed nodes.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export interface HostPort {
  host: string;
  port: number;
}

export interface RedisAuth {
  username?: string;
  password?: string;
}

/** TLS to a set of servers: the system's CAs are trusted, or only `ca` (PEM) when given. */
export interface RedisTls {
  ca?: string;
}

export type RedisTarget =
  | {
      mode: 'server';
      host: string;
      port: number;
      db: number;
      isTls: boolean;
      auth: RedisAuth;
      tls?: RedisTls;
    }
  | { mode: 'socket'; path: string; db: number; auth: RedisAuth }
  | {
      mode: 'sentinel';
      sentinels: HostPort[];
      masterName: string;
      sentinelPassword?: string;
      db: number;
      auth: RedisAuth;
      /** TLS to the master and replicas the Sentinels name. */
      tls?: RedisTls;
      /** TLS to the Sentinels themselves. */
      sentinelTls?: RedisTls;
    }
  | { mode: 'cluster'; nodes: HostPort[]; auth: RedisAuth; tls?: RedisTls };

export type RedisMode = RedisTarget['mode'];

export const redisUrlFormat =
  'redis://[[user]:password@]host[:port][/db], rediss://… or unix:///path/to/redis.sock[?db=N]';

/** A thrown parse failure names the part of the text at fault; the caller names the variable. */
export class RedisTargetError extends Error {
  override name = 'RedisTargetError';
}

/** `redis://`, `rediss://` (one server) or `unix://` / `redis+unix://` (a socket path, db in `?db=`). */
export function parseRedisUrl(text: string): Extract<RedisTarget, { mode: 'server' | 'socket' }> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RedisTargetError(`expected ${redisUrlFormat}`);
  }
  const auth: RedisAuth = {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
  if (url.protocol === 'unix:' || url.protocol === 'redis+unix:') {
    // The host stays empty: unix:///run/redis.sock. A password goes in REDIS_PASSWORD, not in the URL.
    if (url.host !== '' || url.username || url.password)
      throw new RedisTargetError('a socket URL has no host or credentials: unix:///path/to/redis.sock');
    const path = decodeURIComponent(url.pathname);
    if (path.length < 2)
      throw new RedisTargetError('the socket URL names no path: unix:///path/to/redis.sock');
    for (const name of url.searchParams.keys())
      if (name !== 'db') throw new RedisTargetError(`unknown socket URL parameter ${JSON.stringify(name)}`);
    return { mode: 'socket', path, db: databaseOf(url.searchParams.get('db') ?? '0'), auth };
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    throw new RedisTargetError(`expected ${redisUrlFormat}`);
  if (url.hostname === '') throw new RedisTargetError(`the URL names no host: expected ${redisUrlFormat}`);
  return {
    mode: 'server',
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    db: databaseOf(url.pathname.length > 1 ? url.pathname.slice(1) : '0'),
    isTls: url.protocol === 'rediss:',
    auth,
  };
}

function databaseOf(text: string): number {
  if (!/^\d{1,2}$/.test(text) || Number(text) > 15)
    throw new RedisTargetError(`the database must be a number 0-15, not ${text}`);
  return Number(text);
}

/** `host:port` or `[v6]:port`, comma-separated. */
export function parseHostPorts(text: string): HostPort[] {
  const items = text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
  if (items.length === 0) throw new RedisTargetError('expected host:port[,host:port…]');
  return items.map((item) => {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(item);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65535)
      throw new RedisTargetError(`${JSON.stringify(item)} is not host:port (a v6 address as [::1]:port)`);
    return { host: (match[1] ?? match[2]) as string, port };
  });
}

/** The settings that only mean something once a Redis is named. */
const dependentNames = [
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_DB',
  'REDIS_TLS',
  'REDIS_SENTINEL_TLS',
  'REDIS_TLS_CA_FILE',
] as const;

export const redisEnvironmentNames = [
  'REDIS_URL',
  'REDIS_SENTINELS',
  'REDIS_SENTINEL_NAME',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_CLUSTER_NODES',
  ...dependentNames,
] as const;

type RedisEnvironment = Partial<Record<(typeof redisEnvironmentNames)[number], string>>;

type Fail = (name: string, message: string) => never;

/**
 * The Redis variables, checked together: at most one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES; the
 * Sentinel settings only with Sentinels; REDIS_USERNAME and REDIS_PASSWORD for a socket, Sentinels or a Cluster
 * (a redis:// URL carries its own); REDIS_DB with Sentinels (a URL carries its own, a Cluster has only 0);
 * REDIS_TLS with Sentinels or a Cluster (a URL says rediss://), REDIS_SENTINEL_TLS with Sentinels, and
 * REDIS_TLS_CA_FILE with some TLS. Undefined: none set, the embedded redis-server.
 */
export const redisEnvironmentSchema = z
  .object(Object.fromEntries(redisEnvironmentNames.map((name) => [name, z.string().optional()])))
  .transform((environment: RedisEnvironment, context): RedisTarget | undefined => {
    const fail: Fail = (name, message) => {
      context.addIssue({ code: 'custom', path: [name], message });
      return z.NEVER as never;
    };
    const target = baseTargetOf(environment, fail);
    return target && withDatabaseAndTls(target, environment, fail);
  });

/** The target named by REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES with its credentials. */
function baseTargetOf(environment: RedisEnvironment, fail: Fail): RedisTarget | undefined {
  const named = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter(
    (name) => environment[name] !== undefined,
  );
  if (named.length > 1)
    return fail(named[1] as string, `cannot be combined with ${named[0]}: name one Redis, one way`);
  const auth: RedisAuth = {
    ...(environment.REDIS_USERNAME ? { username: environment.REDIS_USERNAME } : {}),
    ...(environment.REDIS_PASSWORD ? { password: environment.REDIS_PASSWORD } : {}),
  };
  if (environment.REDIS_SENTINELS === undefined) {
    for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD'] as const)
      if (environment[name] !== undefined) return fail(name, 'only means something with REDIS_SENTINELS');
  }
  try {
    if (environment.REDIS_URL !== undefined) {
      const target = parseRedisUrl(environment.REDIS_URL);
      if (target.mode === 'server') {
        for (const name of ['REDIS_USERNAME', 'REDIS_PASSWORD'] as const)
          if (environment[name] !== undefined)
            return fail(name, 'with a redis:// URL the credentials go in REDIS_URL');
        return target;
      }
      return { ...target, auth };
    }
  } catch (error) {
    return fail('REDIS_URL', (error as Error).message);
  }
  if (environment.REDIS_SENTINELS !== undefined) {
    if (environment.REDIS_SENTINEL_NAME === undefined)
      return fail(
        'REDIS_SENTINEL_NAME',
        'required with REDIS_SENTINELS: the master group name the Sentinels watch',
      );
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(environment.REDIS_SENTINEL_NAME))
      return fail('REDIS_SENTINEL_NAME', 'letters, digits, . _ - only, at most 64');
    try {
      return {
        mode: 'sentinel',
        sentinels: parseHostPorts(environment.REDIS_SENTINELS),
        masterName: environment.REDIS_SENTINEL_NAME,
        ...(environment.REDIS_SENTINEL_PASSWORD
          ? { sentinelPassword: environment.REDIS_SENTINEL_PASSWORD }
          : {}),
        db: 0,
        auth,
      };
    } catch (error) {
      return fail('REDIS_SENTINELS', (error as Error).message);
    }
  }
  if (environment.REDIS_CLUSTER_NODES !== undefined) {
    try {
      return { mode: 'cluster', nodes: parseHostPorts(environment.REDIS_CLUSTER_NODES), auth };
    } catch (error) {
      return fail('REDIS_CLUSTER_NODES', (error as Error).message);
    }
  }
  for (const name of dependentNames)
    if (environment[name] !== undefined)
      return fail(name, 'set with no Redis named (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)');
  return undefined;
}

function isTrue(text: string | undefined, name: string, fail: Fail): boolean {
  if (text === undefined || ['false', '0', 'no', ''].includes(text)) return false;
  if (['true', '1', 'yes'].includes(text)) return true;
  return fail(name, `expected true or false, not ${JSON.stringify(text)}`);
}

/** REDIS_DB, REDIS_TLS, REDIS_SENTINEL_TLS and REDIS_TLS_CA_FILE applied to a target, where they mean something. */
function withDatabaseAndTls(target: RedisTarget, environment: RedisEnvironment, fail: Fail): RedisTarget {
  const isSentinel = target.mode === 'sentinel';
  if (environment.REDIS_DB !== undefined && !isSentinel)
    return fail(
      'REDIS_DB',
      target.mode === 'cluster'
        ? 'a Cluster has database 0 only'
        : 'the database goes in REDIS_URL (redis://host/N, unix:///path?db=N)',
    );
  const isTls = isTrue(environment.REDIS_TLS, 'REDIS_TLS', fail);
  const isSentinelTls = isTrue(environment.REDIS_SENTINEL_TLS, 'REDIS_SENTINEL_TLS', fail);
  if (isTls && (target.mode === 'server' || target.mode === 'socket'))
    return fail('REDIS_TLS', 'with REDIS_URL, TLS is named by rediss:// (and a socket has none)');
  if (isSentinelTls && !isSentinel)
    return fail('REDIS_SENTINEL_TLS', 'only means something with REDIS_SENTINELS');
  let ca: string | undefined;
  if (environment.REDIS_TLS_CA_FILE !== undefined) {
    const isServerTls = target.mode === 'server' && target.isTls;
    if (!isTls && !isSentinelTls && !isServerTls)
      return fail(
        'REDIS_TLS_CA_FILE',
        'no TLS to trust it for: set REDIS_TLS, REDIS_SENTINEL_TLS or use rediss://',
      );
    try {
      ca = readFileSync(environment.REDIS_TLS_CA_FILE, 'utf8');
    } catch (error) {
      return fail('REDIS_TLS_CA_FILE', `cannot read it: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----'))
      return fail('REDIS_TLS_CA_FILE', 'holds no PEM certificate');
  }
  const tls: RedisTls = ca === undefined ? {} : { ca };
  switch (target.mode) {
    case 'server':
      return target.isTls && ca !== undefined ? { ...target, tls } : target;
    case 'socket':
      return target;
    case 'sentinel':
      return {
        ...target,
        ...(environment.REDIS_DB !== undefined ? { db: databaseOrFail(environment.REDIS_DB, fail) } : {}),
        ...(isTls ? { tls } : {}),
        ...(isSentinelTls ? { sentinelTls: tls } : {}),
      };
    case 'cluster':
      return isTls ? { ...target, tls } : target;
  }
}

function databaseOrFail(text: string, fail: Fail): number {
  try {
    return databaseOf(text);
  } catch (error) {
    return fail('REDIS_DB', (error as Error).message);
  }
}

/** Where a target is, for logs and errors: never its password. */
export function describeRedisTarget(target: RedisTarget): string {
  const list = (nodes: HostPort[]) =>
    nodes.map((node) => `${node.host.includes(':') ? `[${node.host}]` : node.host}:${node.port}`).join(',');
  switch (target.mode) {
    case 'server':
      return `${target.isTls ? 'rediss' : 'redis'}://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}/${target.db}`;
    case 'socket':
      return `unix://${target.path}?db=${target.db}`;
    case 'sentinel':
      return (
        `sentinel ${target.masterName} via ${list(target.sentinels)}` +
        `${target.db === 0 ? '' : ` db ${target.db}`}${target.tls ? ', data over TLS' : ''}` +
        `${target.sentinelTls ? ', Sentinels over TLS' : ''}`
      );
    case 'cluster':
      return `cluster via ${list(target.nodes)}${target.tls ? ' over TLS' : ''}`;
  }
}
