// Benchmark child: one monitor worker process (the same startMonitorWorkers as `reach worker`), loopback only.
// Environment: REDIS_URL, BENCH_QUEUE, MONITOR_CONCURRENCY, PROBE_TIMEOUT_MS. Prints "ready" and stops on SIGTERM.
import { pino } from 'pino';
import { loadMonitorConfig } from '../dist/monitor/config.js';
import { startMonitorWorkers } from '../dist/monitor/workers.js';

const workers = startMonitorWorkers({
  redisUrl: process.env.REDIS_URL,
  baseQueueName: process.env.BENCH_QUEUE ?? 'bench',
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
  process.exit(0);
});
