// The monitoring settings: one zod schema for the MONITOR_*, ALERT_* and STATUS_* variables, parsed once at start.
import { z } from 'zod';
import { booleanText, integerText, listText, parseEnvironment } from '../config.js';
import { httpUrlSchema } from '../requests/schemas.js';
import { type ConfiguredChannel, loadChannelFile } from './alerting/channel-file.js';
import type { SharedSettings } from './shared-cause/grouping.js';

/** A CSP frame-ancestors source: 'self' or an http(s) origin (a leading *. in the host is allowed). */
const frameAncestorText = z
  .string()
  .regex(
    /^('self'|https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?)$/,
    "expected 'self' or an origin such as https://intranet.example",
  );

export const monitorEnvironmentSchema = z
  .object({
    /** Runs of monitors processed at once by one worker process (probes are I/O bound). */
    MONITOR_CONCURRENCY: integerText(1, 4096).default(64),
    /** Raw run history kept per monitor: by age and by count, whichever is reached first. */
    MONITOR_HISTORY_MAX_AGE_SECONDS: integerText(3600, 400 * 86_400).default(7 * 86_400),
    MONITOR_HISTORY_MAX_ENTRIES: integerText(10, 1_000_000).default(1440),
    /** Delay before the re-check that confirms a first failure (0: at once). */
    MONITOR_RECHECK_DELAY_MS: integerText(0, 600_000).default(0),
    /**
     * Added to the start of every new schedule (the first tick is this far away plus the monitor's spread
     * within its interval). Operators can use it to stage a rollout; tests set it high so no tick fires mid-test.
     */
    MONITOR_FIRST_TICK_DELAY_SECONDS: integerText(0, 30 * 86_400).default(0),
    /**
     * Seconds between rebuilds of the schedule from the monitor records, by one worker at a time: a shard
     * membership or job scheduler lost (a Redis failover drops the last writes) is back within this bound.
     */
    MONITOR_RECONCILE_SECONDS: integerText(1, 86_400).default(60),
    /** POST /monitors/bulk: monitors per request, and the body's size (JSON or NDJSON), at most. */
    MONITOR_BULK_MAX_ITEMS: integerText(1, 100_000).default(10_000),
    MONITOR_BULK_MAX_BYTES: integerText(16_384, 256 * 1024 * 1024).default(8 * 1024 * 1024),
    /**
     * A bulk creation's first runs come within this many seconds, spread over them: a monitor whose first tick
     * falls inside has that tick as its first run, the others a run of their own at their time in the window.
     */
    MONITOR_BULK_FIRST_RUN_WITHIN_SECONDS: integerText(1, 3600).default(60),
    /**
     * One incident for one cause (docs/monitoring.md): failures older than the window no longer count; a cause
     * on the prober's side (its network, a resolver, an address range) becomes a shared incident once
     * MIN_MONITORS monitors (or MIN_PERCENT of all, if fewer) fail with it; any other cause and code needs both.
     * A site's alert whose cause is prober-side waits HOLD_SECONDS for the shared incident to open.
     */
    MONITOR_SHARED_INCIDENTS: booleanText.default(true),
    MONITOR_SHARED_WINDOW_SECONDS: integerText(10, 86_400).default(300),
    MONITOR_SHARED_MIN_MONITORS: integerText(2, 100_000).default(3),
    MONITOR_SHARED_MIN_PERCENT: integerText(1, 100).default(50),
    MONITOR_SHARED_HOLD_SECONDS: integerText(0, 3600).default(30),
    ALERT_WEBHOOK_URLS: listText.pipe(z.array(httpUrlSchema)).default([]),
    ALERT_WEBHOOK_SECRET: z.string().min(16, 'needs at least 16 characters').optional(),
    ALERT_ATTEMPTS: integerText(1, 50).default(10),
    ALERT_BACKOFF_MS: integerText(1, 3_600_000).default(2000),
    ALERT_TIMEOUT_MS: integerText(100, 60_000).default(5000),
    /** Deliveries one worker process sends at once: they wait on the network, so many are cheap. */
    ALERT_CONCURRENCY: integerText(2, 4096).default(256),
    /** Deliveries in flight to one destination (scheme, host, port) at once, per worker process. */
    ALERT_PER_DESTINATION_CONCURRENCY: integerText(1, 256).default(4),
    /**
     * Notification channels may send to private addresses (a self-hosted Mattermost, ntfy, Gotify or SMTP relay
     * inside the network); otherwise they are held to the same address policy as webhooks and targets.
     */
    ALERT_ALLOW_PRIVATE_DESTINATIONS: booleanText.default(false),
    /** A JSON file of notification channels, upserted at start (see alerting/channel-file.ts). */
    CHANNELS_FILE: z.string().min(1).optional(),
    STATUS_PAGE_TITLE: z.string().min(1).max(100).default('Service status'),
    /** Seconds between the status page's own refreshes in the browser. */
    STATUS_REFRESH_SECONDS: integerText(5, 3600).default(60),
    /** status.json and the page are computed at most once per this many seconds. */
    STATUS_CACHE_SECONDS: integerText(0, 3600).default(5),
    /**
     * Origins that may show /status in a frame (CSP frame-ancestors), comma-separated; unset: no site may.
     */
    STATUS_FRAME_ANCESTORS: listText.pipe(z.array(frameAncestorText)).default([]),
    /** Absolute base URL used in links sent out (webhook incident links, status page id). */
    PUBLIC_BASE_URL: httpUrlSchema.optional(),
  })
  .refine((env) => env.ALERT_WEBHOOK_URLS.length === 0 || env.ALERT_WEBHOOK_SECRET !== undefined, {
    message: 'ALERT_WEBHOOK_URLS needs ALERT_WEBHOOK_SECRET to sign the payloads',
    path: ['ALERT_WEBHOOK_SECRET'],
  });

export interface MonitorConfig {
  concurrency: number;
  history: { maxAgeSeconds: number; maxEntries: number };
  recheckDelayMs: number;
  firstTickDelayMs: number;
  reconcileIntervalMs: number;
  bulk: { maxItems: number; maxBodyBytes: number; firstRunWithinMs: number };
  shared: SharedSettings;
  alerts: {
    globalWebhooks: Array<{ url: string; secret: string }>;
    attempts: number;
    backoffMs: number;
    timeoutMs: number;
    concurrency: number;
    perDestinationConcurrency: number;
    isPrivateDestinationAllowed: boolean;
    /** Channels from CHANNELS_FILE, secrets resolved: written to the store when the API starts. */
    configuredChannels: ConfiguredChannel[];
  };
  status: { title: string; refreshSeconds: number; cacheSeconds: number; frameAncestors: string[] };
  publicBaseUrl: string | undefined;
}

/** The variables loadMonitorConfig reads from the environment. */
export const monitorVariableNames = [
  'MONITOR_CONCURRENCY',
  'MONITOR_HISTORY_MAX_AGE_SECONDS',
  'MONITOR_HISTORY_MAX_ENTRIES',
  'MONITOR_RECHECK_DELAY_MS',
  'MONITOR_FIRST_TICK_DELAY_SECONDS',
  'MONITOR_RECONCILE_SECONDS',
  'MONITOR_BULK_MAX_ITEMS',
  'MONITOR_BULK_MAX_BYTES',
  'MONITOR_BULK_FIRST_RUN_WITHIN_SECONDS',
  'MONITOR_SHARED_INCIDENTS',
  'MONITOR_SHARED_WINDOW_SECONDS',
  'MONITOR_SHARED_MIN_MONITORS',
  'MONITOR_SHARED_MIN_PERCENT',
  'MONITOR_SHARED_HOLD_SECONDS',
  'ALERT_WEBHOOK_URLS',
  'ALERT_WEBHOOK_SECRET',
  'ALERT_ATTEMPTS',
  'ALERT_BACKOFF_MS',
  'ALERT_TIMEOUT_MS',
  'ALERT_CONCURRENCY',
  'ALERT_PER_DESTINATION_CONCURRENCY',
  'ALERT_ALLOW_PRIVATE_DESTINATIONS',
  'CHANNELS_FILE',
  'STATUS_PAGE_TITLE',
  'STATUS_REFRESH_SECONDS',
  'STATUS_CACHE_SECONDS',
  'STATUS_FRAME_ANCESTORS',
  'PUBLIC_BASE_URL',
] as const;

/** Parses the monitoring variables; throws ConfigError naming every variable at fault. */
export function loadMonitorConfig(environment: Record<string, string | undefined>): MonitorConfig {
  const env = parseEnvironment(monitorEnvironmentSchema, monitorVariableNames, environment);
  const secret = env.ALERT_WEBHOOK_SECRET ?? '';
  return {
    concurrency: env.MONITOR_CONCURRENCY,
    history: {
      maxAgeSeconds: env.MONITOR_HISTORY_MAX_AGE_SECONDS,
      maxEntries: env.MONITOR_HISTORY_MAX_ENTRIES,
    },
    recheckDelayMs: env.MONITOR_RECHECK_DELAY_MS,
    firstTickDelayMs: env.MONITOR_FIRST_TICK_DELAY_SECONDS * 1000,
    reconcileIntervalMs: env.MONITOR_RECONCILE_SECONDS * 1000,
    bulk: {
      maxItems: env.MONITOR_BULK_MAX_ITEMS,
      maxBodyBytes: env.MONITOR_BULK_MAX_BYTES,
      firstRunWithinMs: env.MONITOR_BULK_FIRST_RUN_WITHIN_SECONDS * 1000,
    },
    shared: {
      isEnabled: env.MONITOR_SHARED_INCIDENTS,
      windowMs: env.MONITOR_SHARED_WINDOW_SECONDS * 1000,
      minMonitors: env.MONITOR_SHARED_MIN_MONITORS,
      minShare: env.MONITOR_SHARED_MIN_PERCENT / 100,
      holdMs: env.MONITOR_SHARED_HOLD_SECONDS * 1000,
    },
    alerts: {
      globalWebhooks: env.ALERT_WEBHOOK_URLS.map((url) => ({ url, secret })),
      attempts: env.ALERT_ATTEMPTS,
      backoffMs: env.ALERT_BACKOFF_MS,
      timeoutMs: env.ALERT_TIMEOUT_MS,
      concurrency: env.ALERT_CONCURRENCY,
      perDestinationConcurrency: env.ALERT_PER_DESTINATION_CONCURRENCY,
      isPrivateDestinationAllowed: env.ALERT_ALLOW_PRIVATE_DESTINATIONS,
      // The file's ${NAME} references read the same environment as every other setting.
      configuredChannels: env.CHANNELS_FILE ? loadChannelFile(env.CHANNELS_FILE, environment) : [],
    },
    status: {
      title: env.STATUS_PAGE_TITLE,
      refreshSeconds: env.STATUS_REFRESH_SECONDS,
      cacheSeconds: env.STATUS_CACHE_SECONDS,
      frameAncestors: env.STATUS_FRAME_ANCESTORS,
    },
    publicBaseUrl: env.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
  };
}
