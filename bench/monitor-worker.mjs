// Benchmark child: one monitor worker process (the same startMonitorWorkers as `reach worker`), loopback only.
// Environment: REDIS_URL (or REDIS_CLUSTER_NODES, ...), BENCH_QUEUE, MONITOR_CONCURRENCY, PROBE_TIMEOUT_MS.
// Prints "ready" and stops on SIGTERM.
import { pino } from 'pino';
import { loadConfig } from '../dist/config.js';
import { loadMonitorConfig } from '../dist/monitor/config.js';
import { startMonitorWorkers } from '../dist/monitor/workers.js';
import { createRedisConnector } from '../dist/redis/connection.js';

const baseQueueName = process.env.BENCH_QUEUE ?? 'bench';
const redis = createRedisConnector(loadConfig(process.env).redis, baseQueueName);
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
  logger: pino({ level: 'warn' }),
});
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await workers.close(5000);
  await redis.close();
  process.exit(0);
});
