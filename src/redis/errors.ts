// Errors from the service's long-lived Redis users, logged without a flood: a restart or failover makes every
// client fail once per reconnect attempt, so such connection errors warn once a window and go to debug otherwise.
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
 * An 'error' listener for a BullMQ part or client: any other error is a warning each time; a connection error
 * warns once per `quietMs` (saying how many were quieted since) and is logged at debug in between.
 */
export function redisErrorLogger(
  logger: Logger,
  message: string,
  context: Record<string, unknown> = {},
  quietMs = 30_000,
): (error: Error) => void {
  let warnedAtMs = Number.NEGATIVE_INFINITY;
  let quietedCount = 0;
  return (error) => {
    if (!isRedisConnectionError(error)) {
      logger.warn({ ...context, err: error }, message);
      return;
    }
    const nowMs = Date.now();
    if (nowMs - warnedAtMs < quietMs) {
      quietedCount += 1;
      logger.debug({ ...context, err: error }, message);
      return;
    }
    logger.warn(
      { ...context, err: error, quietedCount, quietSeconds: quietMs / 1000 },
      `${message}: Redis unreachable, reconnecting (repeats go to debug for a while)`,
    );
    warnedAtMs = nowMs;
    quietedCount = 0;
  };
}
