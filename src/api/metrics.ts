// Prometheus metrics of the API: request latencies and the queue's depth, read at scrape time.
import type { Queue } from 'bullmq';
import type { RequestHandler } from 'express';
import { Gauge, Histogram, type Registry } from 'prom-client';

export function createHttpMetrics(registry: Registry): RequestHandler {
  const latency = new Histogram({
    name: 'reach_http_request_duration_seconds',
    help: 'API request latency by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  return (request, response, next) => {
    const startedMs = performance.now();
    response.once('finish', () => {
      // The route template, not the path, so ids do not explode the label set. Express has restored baseUrl by
      // the time the response finishes, so the mount path recorded on the way in is used.
      const base =
        typeof response.locals.routeBase === 'string' ? response.locals.routeBase : request.baseUrl;
      const route = routeLabel(base, request.route?.path);
      latency.observe(
        { method: request.method, route, status: String(response.statusCode) },
        (performance.now() - startedMs) / 1000,
      );
    });
    next();
  };
}

/** Put first on a mounted path: records the mount (such as /monitors) for the metrics' route template. */
export const markRouteBase: RequestHandler = (request, response, next) => {
  response.locals.routeBase = request.baseUrl;
  next();
};

function routeLabel(base: string, path: unknown): string {
  if (typeof path === 'string') {
    const full = `${base}${path === '/' && base !== '' ? '' : path}`;
    return full === '' ? '/' : full;
  }
  // No route matched (an auth failure or a 404 below a mount): the mount, never the raw path.
  return base === '' ? 'unmatched' : `${base}/*`;
}

export function registerQueueDepth(registry: Registry, queue: Queue): void {
  new Gauge({
    name: 'reach_queue_jobs',
    help: 'Probe jobs in the queue by state.',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      try {
        const counts = await queue.getJobCounts(
          'waiting',
          'prioritized',
          'active',
          'delayed',
          'completed',
          'failed',
        );
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
      } catch {
        // Redis away: the gauge keeps its last values; /readyz says what is wrong.
      }
    },
  });
}
