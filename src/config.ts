// The service's configuration: one zod schema for the environment, parsed once at start.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { type RedisTarget, redisEnvironmentNames, redisEnvironmentSchema } from './redis/target.js';
import type { ProbeDefaults } from './requests/probe-options.js';
import { httpUrlSchema } from './requests/schemas.js';
import { isResolverText, resolverTextFormat } from './resolver-text.js';
import { usableCores } from './usable-cores.js';

export const booleanText = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((text) => text === 'true' || text === '1' || text === 'yes');

/** Environment field types shared by every settings schema (service, monitors). */
export const integerText = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const listText = z.string().transform((text) =>
  text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

/** Checked here so a bad default resolver stops the start, not every probe. */
const resolverText = z.string().refine(isResolverText, { message: `expected ${resolverTextFormat}` });

/** One vantage label: key=value, both short and plain. */
const labelText = z
  .string()
  .regex(/^[a-z][a-z0-9_.-]{0,39}=[A-Za-z0-9_.:-]{1,64}$/, 'expected key=value (letters, digits, _ . : -)');

/**
 * Comma-separated PEM files, each read once at start: a file that cannot be read or holds no certificate
 * stops the start with the variable's name, not every probe of a site behind the private CA.
 */
const caFilesText = listText.transform((files, context) => {
  const pems: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      context.addIssue({
        code: 'custom',
        message: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      });
      continue;
    }
    if (!text.includes('-----BEGIN CERTIFICATE-----')) {
      context.addIssue({ code: 'custom', message: `${file} holds no PEM certificate` });
      continue;
    }
    pems.push(text);
  }
  return pems;
});

export const environmentSchema = z.object({
  PORT: integerText(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  REDIS_DATA_DIR: z.string().min(1).default('.data/redis'),
  QUEUE_NAME: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .default('reach-probes'),
  WORKER_CONCURRENCY: integerText(1, 1024).default(16),
  /**
   * `reach serve` only: worker processes in all, serve's own included. Each further one is a `reach worker` child
   * on serve's Redis (the embedded one too), so a batch or a fleet of monitors uses more than one core. Default:
   * one per core this process may use (a container's CPU quota counts), at most 4 (each costs about 100 MB).
   */
  WORKER_PROCESSES: integerText(1, 64).default(() => Math.min(usableCores(), 4)),
  /** Comma-separated bearer keys; unset or empty means no authentication. */
  API_KEYS: listText
    .pipe(z.array(z.string().min(16, 'each API key needs at least 16 characters')))
    .default([]),
  /**
   * Comma-separated keys with admin rights: the queue dashboard (/admin/queues). Unset: no dashboard. Admin keys
   * are not probing keys; list a key in both to give it both rights.
   */
  ADMIN_API_KEYS: listText
    .pipe(z.array(z.string().min(16, 'each admin key needs at least 16 characters')))
    .default([]),
  PROBE_ALLOW_PRIVATE: booleanText.default(false),
  PROBE_RESOLVERS: listText.pipe(z.array(resolverText)).default([]),
  PROBE_CONTROLS: listText.pipe(z.array(httpUrlSchema)).default([]),
  PROBE_TIMEOUT_MS: integerText(100, 120_000).default(10_000),
  PROBE_MAX_REDIRECTS: integerText(0, 20).default(5),
  PROBE_MAX_BODY_BYTES: integerText(0, 16 * 1024 * 1024).default(262_144),
  /** Extra trusted CA certificates for every probe (API probes and monitors): PEM files, comma-separated. */
  PROBE_CA_FILE: caFilesText.optional(),
  RESULT_TTL_SECONDS: integerText(60, 30 * 24 * 3600).default(86_400),
  /** Finished probes kept at most, whichever of this and RESULT_TTL_SECONDS is reached first. */
  RESULT_MAX_COUNT: integerText(10, 10_000_000).default(50_000),
  QUEUE_MAX_WAITING: integerText(1, 10_000_000).default(10_000),
  RATE_LIMIT_POINTS: integerText(1, 10_000_000).default(120),
  /** Reads (GET /probe/:id polling) have their own budget, so polling for a result does not use up submissions. */
  RATE_LIMIT_READ_POINTS: integerText(1, 10_000_000).default(1200),
  RATE_LIMIT_WINDOW_SECONDS: integerText(1, 86_400).default(60),
  /** Requests with a missing or wrong key per client address and window, before 429. */
  RATE_LIMIT_AUTH_FAILURES: integerText(1, 10_000_000).default(30),
  /** The embedded redis-server's maxmemory (with noeviction), in megabytes; 0: no cap. */
  REDIS_MAX_MEMORY_MB: integerText(0, 1_048_576).default(1024),
  /** Submissions are refused (503) once Redis uses this share of its maxmemory. */
  REDIS_MEMORY_HIGH_WATER_PERCENT: integerText(10, 100).default(90),
  /** Open connections the API accepts at once; more are closed at once. */
  HTTP_MAX_CONNECTIONS: integerText(1, 1_000_000).default(2048),
  /** Time a client has to send a request's headers, and the whole request. */
  HTTP_HEADERS_TIMEOUT_MS: integerText(1000, 300_000).default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: integerText(1000, 600_000).default(30_000),
  JOB_ATTEMPTS: integerText(1, 20).default(3),
  JOB_BACKOFF_MS: integerText(10, 600_000).default(1000),
  WORKER_LOCK_DURATION_MS: integerText(1000, 600_000).default(30_000),
  WORKER_STALLED_INTERVAL_MS: integerText(500, 600_000).default(30_000),
  WORKER_METRICS_PORT: integerText(0, 65535).default(0),
  SHUTDOWN_DEADLINE_MS: integerText(0, 600_000).default(30_000),
  /** Express "trust proxy": set to the number of proxies in front, so rate limits key on the client's address. */
  TRUST_PROXY_HOPS: integerText(0, 10).default(0),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * This worker is a vantage point: it advertises itself under this name and also takes the jobs of its own
   * queue. `reach serve` is the vantage "local" unless named; `reach worker` is a vantage only when named.
   */
  VANTAGE_NAME: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'lowercase letters, digits and - only, at most 40')
    .optional(),
  /** Labels of the vantage, such as region=eu-west,network=isp-a. */
  VANTAGE_LABELS: listText.pipe(z.array(labelText)).default([]),
  /** Seconds between a vantage's heartbeats; it counts as gone after three missed ones. */
  VANTAGE_HEARTBEAT_SECONDS: integerText(1, 300).default(5),
  /** URLs one batch (POST /batches) may hold, for every key. */
  BATCH_MAX_URLS: integerText(1, 1_000_000).default(10_000),
  /** Batches one key (or client address, without keys) may have running at once. */
  BATCH_MAX_RUNNING: integerText(1, 10_000).default(4),
  /** A batch's body (the list or the JSON) at most, in bytes. */
  BATCH_MAX_BODY_BYTES: integerText(1024, 256 * 1024 * 1024).default(16 * 1024 * 1024),
  /** How long a batch's status and results are kept after its last item was recorded. */
  BATCH_RESULT_TTL_SECONDS: integerText(60, 30 * 24 * 3600).default(86_400),
  /** Batch probes a worker process runs at once, beside WORKER_CONCURRENCY single probes. */
  BATCH_WORKER_CONCURRENCY: integerText(1, 1024).default(16),
  /** URLs per job on the batch lane: one queue job, one claim and grouped result writes for each chunk. */
  BATCH_CHUNK_SIZE: integerText(1, 1024).default(32),
  /** A batch's control that failed is probed again at most this often (seconds), as the CLI's --control-refresh. */
  BATCH_CONTROL_REFRESH_SECONDS: integerText(1, 86_400).default(30),
});

export type Environment = z.input<typeof environmentSchema>;

/** Every variable the service's configuration reads: the schema's fields and the Redis ones (redis/target.ts). */
export const serviceVariableNames: readonly string[] = [
  ...Object.keys(environmentSchema.shape),
  ...redisEnvironmentNames,
];

export interface ServiceConfig {
  port: number;
  host: string;
  /**
   * REDIS_URL (a server or a unix socket), REDIS_SENTINELS or REDIS_CLUSTER_NODES (redis/target.ts); undefined
   * when none is set: a private redis-server child process is started with its data in REDIS_DATA_DIR.
   */
  redis: RedisTarget | undefined;
  redisDataDir: string;
  queueName: string;
  workerConcurrency: number;
  apiKeys: string[];
  adminApiKeys: string[];
  isPrivateAllowed: boolean;
  probeDefaults: ProbeDefaults;
  resultTtlSeconds: number;
  resultMaxCount: number;
  queueMaxWaiting: number;
  rateLimit: { points: number; readPoints: number; windowSeconds: number; authFailures: number };
  redisMaxMemoryMb: number;
  redisMemoryHighWaterPercent: number;
  http: { maxConnections: number; headersTimeoutMs: number; requestTimeoutMs: number };
  jobAttempts: number;
  jobBackoffMs: number;
  workerLockDurationMs: number;
  workerStalledIntervalMs: number;
  workerMetricsPort: number;
  /** `reach serve`'s worker processes in all, its own included (WORKER_PROCESSES). */
  workerProcesses: number;
  shutdownDeadlineMs: number;
  trustProxyHops: number;
  logLevel: z.infer<typeof environmentSchema>['LOG_LEVEL'];
  /** Set when this process's worker is a vantage point (see VANTAGE_NAME). */
  vantage: { name: string | undefined; labels: Record<string, string>; heartbeatMs: number };
  /** POST /batches: its limits per key, how long results are kept, and the batch lane's workers. */
  batch: BatchSettings;
}

export interface BatchSettings {
  maxUrls: number;
  maxRunning: number;
  maxBodyBytes: number;
  resultTtlSeconds: number;
  workerConcurrency: number;
  chunkSize: number;
  /** A failed control of a batch is probed again at most this often. */
  controlRefreshMs: number;
}

/** Thrown by loadConfig; the message names every variable at fault, one per line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Picks `names` from the environment (blank counts as unset), validates them with `schema` once, and
 * throws a ConfigError naming every variable at fault. Shared by the service's and the monitors' settings.
 */
export function parseEnvironment<T>(
  schema: z.ZodType<T>,
  names: readonly string[],
  environment: Record<string, string | undefined>,
): T {
  const known = Object.fromEntries(names.map((name) => [name, blankToUndefined(environment[name], name)]));
  const parsed = schema.safeParse(known);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`,
    );
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`);
  }
  return parsed.data;
}

export function loadConfig(environment: Record<string, string | undefined>): ServiceConfig {
  const env = parseEnvironment(environmentSchema, Object.keys(environmentSchema.shape), environment);
  const redis = parseEnvironment(redisEnvironmentSchema, redisEnvironmentNames, environment);
  return {
    port: env.PORT,
    host: env.HOST,
    redis,
    redisDataDir: env.REDIS_DATA_DIR,
    queueName: env.QUEUE_NAME,
    workerConcurrency: env.WORKER_CONCURRENCY,
    apiKeys: env.API_KEYS,
    adminApiKeys: env.ADMIN_API_KEYS,
    isPrivateAllowed: env.PROBE_ALLOW_PRIVATE,
    probeDefaults: {
      resolvers: env.PROBE_RESOLVERS,
      controls: env.PROBE_CONTROLS,
      timeoutMs: env.PROBE_TIMEOUT_MS,
      maxRedirects: env.PROBE_MAX_REDIRECTS,
      maxBodyBytes: env.PROBE_MAX_BODY_BYTES,
      ...(env.PROBE_CA_FILE && env.PROBE_CA_FILE.length > 0 ? { ca: env.PROBE_CA_FILE } : {}),
    },
    resultTtlSeconds: env.RESULT_TTL_SECONDS,
    resultMaxCount: env.RESULT_MAX_COUNT,
    queueMaxWaiting: env.QUEUE_MAX_WAITING,
    rateLimit: {
      points: env.RATE_LIMIT_POINTS,
      readPoints: env.RATE_LIMIT_READ_POINTS,
      windowSeconds: env.RATE_LIMIT_WINDOW_SECONDS,
      authFailures: env.RATE_LIMIT_AUTH_FAILURES,
    },
    redisMaxMemoryMb: env.REDIS_MAX_MEMORY_MB,
    redisMemoryHighWaterPercent: env.REDIS_MEMORY_HIGH_WATER_PERCENT,
    http: {
      maxConnections: env.HTTP_MAX_CONNECTIONS,
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
    },
    jobAttempts: env.JOB_ATTEMPTS,
    jobBackoffMs: env.JOB_BACKOFF_MS,
    workerLockDurationMs: env.WORKER_LOCK_DURATION_MS,
    workerStalledIntervalMs: env.WORKER_STALLED_INTERVAL_MS,
    workerMetricsPort: env.WORKER_METRICS_PORT,
    workerProcesses: env.WORKER_PROCESSES,
    shutdownDeadlineMs: env.SHUTDOWN_DEADLINE_MS,
    trustProxyHops: env.TRUST_PROXY_HOPS,
    logLevel: env.LOG_LEVEL,
    vantage: {
      name: env.VANTAGE_NAME,
      labels: Object.fromEntries(env.VANTAGE_LABELS.map((label) => label.split('=') as [string, string])),
      heartbeatMs: env.VANTAGE_HEARTBEAT_SECONDS * 1000,
    },
    batch: {
      maxUrls: env.BATCH_MAX_URLS,
      maxRunning: env.BATCH_MAX_RUNNING,
      maxBodyBytes: env.BATCH_MAX_BODY_BYTES,
      resultTtlSeconds: env.BATCH_RESULT_TTL_SECONDS,
      workerConcurrency: env.BATCH_WORKER_CONCURRENCY,
      chunkSize: env.BATCH_CHUNK_SIZE,
      controlRefreshMs: env.BATCH_CONTROL_REFRESH_SECONDS * 1000,
    },
  };
}

// An empty variable means "use the default", except the key lists where empty explicitly means none.
function blankToUndefined(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '' && name !== 'API_KEYS' && name !== 'ADMIN_API_KEYS') return undefined;
  return value;
}
