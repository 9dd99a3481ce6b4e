// Benchmark child: one monitor worker process (the same startMonitorWorkers as `reach worker`), loopback only.
// Environment: REDIS_URL (or REDIS_CLUSTER_NODES, ...), BENCH_QUEUE, MONITOR_CONCURRENCY, PROBE_TIMEOUT_MS.
// BENCH_WORKER_LOG=FILE writes the worker's debug log there (each shard tick's timing, each reconcile) and the
// event loop's delay every 5 s: the bench's --lag-breakdown reads it. Prints "ready" and stops on SIGTERM.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { loadConfig } from '../dist/config.js';
import { loadMonitorConfig } from '../dist/monitor/config.js';
import { startMonitorWorkers } from '../dist/monitor/workers.js';
import { createRedisConnector } from '../dist/redis/connection.js';

const baseQueueName = process.env.BENCH_QUEUE ?? 'bench';
const redis = createRedisConnector(loadConfig(process.env).redis, baseQueueName);
const logFile = process.env.BENCH_WORKER_LOG;
const logger = logFile
  ? pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: false }))
  : pino({ level: 'warn' });
if (logFile) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  setInterval(() => {
    logger.debug(
      { atMs: Date.now(), p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 },
      'event loop delay',
    );
    delay.reset();
  }, 5000).unref();
}
const workers = startMonitorWorkers({
  redis,
  baseQueueName,
  config: loadMonitorConfig(process.env),
  probeDefaults: {
    resolvers: [],
    controls: [],
    timeoutMs: Number(process.env.PROBE_TIMEOUT_MS ?? 10_000),
    maxRedirects: 5,
    maxBodyBytes: 65_536,
  },
  // Loopback targets only: anything else is refused.
  policy: (address) => (address === '127.0.0.1' ? undefined : 'benchmark targets are loopback only'),
  logger,
});
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await workers.close(5000);
  logger.flush?.();
  await redis.close();
  process.exit(0);
});
