// Errors from the service's long-lived Redis users, logged without a flood: a restart or failover makes every
// client fail once per reconnect attempt, and a Redis that refuses writes fails a worker's every retry, so each
// storm of errors warns once a window and goes to debug otherwise.
import type { Logger } from 'pino';

const connectionErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What ioredis and BullMQ say while a server, a Sentinel's master or a Cluster's slot owner is away. */
const connectionErrorPatterns = [
  /^Connection is closed/,
  /Failed to refresh slots cache/,
  /None of startup nodes is available/,
  /All sentinels are unreachable/,
  /Stream isn't writeable/,
  /Reached the max retries per request/,
  /Too many Cluster redirections/,
  /^(CLUSTERDOWN|READONLY|LOADING|MASTERDOWN)\b/,
  /cluster reconnect timed out/,
];

export function isRedisConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && connectionErrorCodes.has(code)) return true;
  return connectionErrorPatterns.some((pattern) => pattern.test(error.message));
}

/**
 * What Redis answers while it is up but refuses writes: its disk failing (MISCONF, the append-only file or a
 * snapshot cannot be written, PING refused too) or its memory cap reached with noeviction (OOM). A BullMQ worker
 * retries such an error at once, without its reconnect delay: thousands a second.
 */
const refusingWritesPatterns = [/^MISCONF\b/, /^OOM\b/, /^NOREPLICAS\b/];

export function isRedisRefusingWrites(error: unknown): boolean {
  return error instanceof Error && refusingWritesPatterns.some((pattern) => pattern.test(error.message));
}

/**
 * What Redis answers to credentials it refuses: a wrong password or user (WRONGPASS; "invalid password" before
 * Redis 6), none given where one is needed (NOAUTH), a user not allowed to connect (NOPERM). Nothing mends these
 * but a change of settings, unlike an outage.
 */
const refusedCredentialsPatterns = [/^WRONGPASS\b/, /^NOAUTH\b/, /^NOPERM\b/, /^ERR invalid password/];

export function isRedisCredentialsRefusal(error: unknown): boolean {
  return error instanceof Error && refusedCredentialsPatterns.some((pattern) => pattern.test(error.message));
}

/**
 * What ioredis says when the server's reply is not the Redis protocol at all: a reply of a type RESP does not have
 * (an HTTP server's "HTTP/1.1 400" begins with 'H'), as a fatal error to "report". The port holds something else.
 */
const notRedisReplyPattern = /^Unknown RESP type (\d+)/;

export function isNotRedisReply(error: unknown): boolean {
  return error instanceof Error && notRedisReplyPattern.test(error.message);
}

/** The first byte of the reply that was not Redis's, for a person: `it began with "H"`. */
export function notRedisReplyOf(error: Error): string {
  const code = Number(notRedisReplyPattern.exec(error.message)?.[1]);
  const first = String.fromCharCode(code);
  return /^[\x20-\x7e]$/.test(first)
    ? `its reply began with "${first}"`
    : `its reply began with byte ${code}`;
}

/** What a storm is counted by: every connection error is one storm, every refusal one, any other error its text. */
function stormOf(error: Error): { key: string; says?: string } {
  if (isRedisConnectionError(error)) return { key: 'connection', says: 'Redis unreachable, reconnecting' };
  if (isRedisRefusingWrites(error)) return { key: 'refusing-writes', says: 'Redis refuses writes' };
  return { key: `error:${error.message}` };
}

/** Storms remembered at once: past it the oldest is forgotten (its next error warns again). */
const stormLimit = 100;

/**
 * An 'error' listener for a BullMQ part or client. Each storm warns once per `quietMs` (saying how many were
 * quieted since) and logs at debug in between: a restart or failover fails every client once per reconnect
 * attempt, and a worker retries a refused write at once, so a full disk under Redis once wrote 40 MB of identical
 * warnings in 15 s, on a disk that may be the same. A new error warns at once.
 */
export function redisErrorLogger(
  logger: Logger,
  message: string,
  context: Record<string, unknown> = {},
  quietMs = 30_000,
): (error: Error) => void {
  const storms = new Map<string, { warnedAtMs: number; quietedCount: number }>();
  return (error) => {
    const { key, says } = stormOf(error);
    const storm = storms.get(key);
    const nowMs = Date.now();
    if (storm && nowMs - storm.warnedAtMs < quietMs) {
      storm.quietedCount += 1;
      logger.debug({ ...context, err: error }, message);
      return;
    }
    const quietedCount = storm?.quietedCount ?? 0;
    const text = `${message}${says ? `: ${says}` : ''}`;
    logger.warn(
      { ...context, err: error, quietedCount, quietSeconds: quietMs / 1000 },
      `${text} (repeats go to debug for a while)`,
    );
    storms.delete(key);
    storms.set(key, { warnedAtMs: nowMs, quietedCount: 0 });
    if (storms.size > stormLimit) storms.delete(storms.keys().next().value as string);
  };
}
