// `reach serve`'s further worker processes (WORKER_PROCESSES): `reach worker` children on serve's own Redis, the
// embedded one too, so that one command uses more than one core. Started after serve's own parts, started again
// when one dies, stopped before serve's own parts (which hold the Redis they drain into), and counted into serve's
// /metrics over the IPC channel, so one scrape still sees every batch item and probe.
import { type ChildProcess, fork } from 'node:child_process';
import type { Logger } from 'pino';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** Set in a child's environment: it is one of serve's worker processes, and waits for serve's start message. */
export const serveWorkerVariable = 'REACH_SERVE_WORKER';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** serve → child: what to start with (the embedded Redis's URL, password included, never in the environment). */
interface StartMessage {
  type: 'reach:start';
  redisUrl?: string;
}
interface MetricsRequest {
  type: 'reach:metrics';
  id: number;
}
/** child → serve: its registry's metrics, for the answer to one request. */
interface MetricsAnswer {
  type: 'reach:metrics';
  id: number;
  metrics: MetricsJson;
}

/** How long a child has to answer a metrics request before a scrape goes on without it. */
const metricsWaitMs = 2000;
/** A child that died is started again after this, doubled each time it dies young, up to the maximum. */
const restartDelay = { firstMs: 1000, maxMs: 30_000 } as const;
/** A child that ran this long before dying was not dying young: its next restart waits the first delay again. */
const healthyAfterMs = 60_000;
/** How long a child started with no start message waits for one before giving up. */
const startWaitMs = 30_000;

interface Slot {
  child?: ChildProcess;
  startedAtMs: number;
  delayMs: number;
  restartTimer?: NodeJS.Timeout;
}

export interface WorkerProcessesOptions {
  /** The children to run: WORKER_PROCESSES less serve's own worker. */
  count: number;
  /** The CLI's script (process.argv[1]) and the arguments of `reach worker` (a vantage's name and labels). */
  script: string;
  args: string[];
  /** Added to serve's own environment for each child (VANTAGE_NAME, ...). */
  env: Record<string, string>;
  /** The children's own shutdown deadline; past it and a grace, a child that has not exited is killed. */
  shutdownDeadlineMs: number;
  logger: Logger;
}

export class WorkerProcesses {
  readonly #options: WorkerProcessesOptions;
  readonly #slots: Slot[];
  readonly #answers = new Map<number, (metrics: MetricsJson) => void>();
  /** Each live child's last answer: used again for a scrape it does not answer in time. */
  readonly #lastAnswers = new Map<ChildProcess, MetricsJson>();
  /**
   * The counters and histograms of the children that have exited, as they last answered. serve's /metrics sums
   * every process's: without these, the sum fell when a child was replaced, and Prometheus reads a fall as the
   * whole sum reset to zero (rate() then counts everything the other processes did as new).
   */
  #retired: MetricsJson = [];
  #nextRequestId = 0;
  #isStopping = false;
  #redisUrl: string | undefined;

  constructor(options: WorkerProcessesOptions) {
    this.#options = options;
    this.#slots = Array.from({ length: options.count }, () => ({
      startedAtMs: 0,
      delayMs: restartDelay.firstMs,
    }));
  }

  /**
   * Starts the children on `redisUrl` (the embedded Redis's, sent over IPC), or, when undefined, on the REDIS_URL
   * (or its kin) of the environment, as serve itself.
   */
  start(redisUrl: string | undefined): void {
    this.#redisUrl = redisUrl;
    for (const slot of this.#slots) this.#spawn(slot);
  }

  /** Children alive now. */
  get running(): number {
    return this.#slots.filter((slot) => slot.child && slot.child.exitCode === null && !slot.child.signalCode)
      .length;
  }

  #spawn(slot: Slot): void {
    const { script, args, env, logger } = this.#options;
    const redisUrl = this.#redisUrl;
    const child = fork(script, ['worker', ...args], {
      env: { ...process.env, ...env, [serveWorkerVariable]: '1' },
      // An inspector port of serve's would be taken twice; the rest of serve's Node flags apply to its workers.
      execArgv: process.execArgv.filter((flag) => !flag.startsWith('--inspect')),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    slot.child = child;
    slot.startedAtMs = Date.now();
    child.on('message', (message: MetricsAnswer) => {
      if (message?.type === 'reach:metrics') this.#answers.get(message.id)?.(message.metrics);
    });
    // An IPC send to a child that just died fails here rather than throwing.
    child.on('error', (error) => logger.warn({ err: error, pid: child.pid }, 'worker process error'));
    child.on('exit', (code, signal) => {
      const last = this.#lastAnswers.get(child);
      this.#lastAnswers.delete(child);
      if (last) this.#retired = summed([this.#retired, last.filter((metric) => isMonotonic(metric))]);
      this.#onExit(slot, child, code, signal);
    });
    const start: StartMessage = { type: 'reach:start', ...(redisUrl ? { redisUrl } : {}) };
    child.send(start);
    logger.info({ pid: child.pid }, 'worker process started');
  }

  #onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child || this.#isStopping) return;
    const { logger } = this.#options;
    const ranMs = Date.now() - slot.startedAtMs;
    slot.delayMs = ranMs >= healthyAfterMs ? restartDelay.firstMs : slot.delayMs;
    logger.warn(
      { pid: child.pid, code, signal, restartInMs: slot.delayMs },
      'worker process exited; starting another',
    );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.#isStopping) this.#spawn(slot);
    }, slot.delayMs);
    slot.delayMs = Math.min(slot.delayMs * 2, restartDelay.maxMs);
  }

  /**
   * What the children add to serve's /metrics: each live child's answer within metricsWaitMs (its last one when
   * it does not answer in time; none from a child that never answered), and the counters and histograms of the
   * children that have exited, so that their sum never falls.
   */
  async metrics(): Promise<MetricsJson[]> {
    // Read as the scrape starts, with each child's last answer: a child that exits during the scrape is counted
    // once, by its answer or its last one, and among the retired only from the next scrape on.
    const retired = this.#retired;
    const asked = this.#slots.flatMap((slot) => {
      const child = slot.child;
      if (child === undefined) return [];
      const last = this.#lastAnswers.get(child);
      // Its channel closed and its exit not yet seen: its last answer stands until it is retired.
      if (!child.connected) return last ? [Promise.resolve(last)] : [];
      const id = this.#nextRequestId++;
      return [
        new Promise<MetricsJson | undefined>((resolve) => {
          const timer = setTimeout(() => finish(undefined), metricsWaitMs);
          const onExit = () => finish(undefined);
          const finish = (metrics: MetricsJson | undefined) => {
            clearTimeout(timer);
            child.off('exit', onExit);
            this.#answers.delete(id);
            if (metrics) this.#lastAnswers.set(child, metrics);
            resolve(metrics ?? last);
          };
          this.#answers.set(id, finish);
          child.once('exit', onExit);
          const request: MetricsRequest = { type: 'reach:metrics', id };
          child.send(request, (error) => {
            if (error) finish(undefined);
          });
        }),
      ];
    });
    const answers = (await Promise.all(asked)).filter(
      (metrics): metrics is MetricsJson => metrics !== undefined,
    );
    return retired.length > 0 ? [...answers, retired] : answers;
  }

  /**
   * Stops every child as a signal stops a worker (it finishes its probes up to its own deadline), and kills one
   * still running past that deadline and a grace. No child is started again after this.
   */
  async stop(): Promise<void> {
    this.#isStopping = true;
    const graceMs = this.#options.shutdownDeadlineMs + 5000;
    await Promise.all(
      this.#slots.map(async (slot) => {
        clearTimeout(slot.restartTimer);
        const child = slot.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const killed = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            this.#options.logger.warn({ pid: child.pid }, 'worker process did not stop in time; killed');
            child.kill('SIGKILL');
            resolve();
          }, graceMs);
        });
        await Promise.race([exited, killed]);
        clearTimeout(timer);
        await exited;
      }),
    );
  }
}

/** Whether this process is one of serve's worker processes. */
export function isServeWorker(): boolean {
  return process.env[serveWorkerVariable] === '1' && process.send !== undefined;
}

/**
 * In a child of serve: waits for serve's start message and answers the environment to start with (serve's Redis).
 * Outside one (a `reach worker` of its own): nothing to wait for.
 */
export async function environmentFromServe(): Promise<Record<string, string>> {
  if (!isServeWorker()) return {};
  const message = await new Promise<StartMessage | undefined>((resolve) => {
    const timer = setTimeout(() => done(undefined), startWaitMs);
    const onMessage = (each: StartMessage) => {
      if (each?.type === 'reach:start') done(each);
    };
    const onDisconnect = () => done(undefined);
    const done = (start: StartMessage | undefined) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
      resolve(start);
    };
    process.on('message', onMessage);
    process.once('disconnect', onDisconnect);
  });
  if (!message)
    throw new Error('started as a worker process of reach serve, but serve sent no start message');
  // From here on, serve gone (its IPC channel closed: serve was killed) stops this process as SIGTERM does, while
  // it starts too: no worker outlives its serve.
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  return message.redisUrl ? { REDIS_URL: message.redisUrl } : {};
}

/** In a child of serve, once its worker runs: answers serve's metrics requests from its registry. */
export function answerServe(metricsOf: () => Promise<MetricsJson>): void {
  if (!isServeWorker()) return;
  process.on('message', (message: MetricsRequest) => {
    if (message?.type !== 'reach:metrics') return;
    metricsOf().then(
      (metrics) => {
        const answer: MetricsAnswer = { type: 'reach:metrics', id: message.id, metrics };
        if (process.connected) process.send?.(answer);
      },
      () => undefined,
    );
  });
}

/** A counter or a histogram: a total that only grows while its process lives. */
function isMonotonic(metric: MetricsJson[number]): boolean {
  const type = String(metric.type);
  return type === 'counter' || type === 'histogram';
}

/**
 * Snapshots added up, value by value (a histogram's buckets, sum and count each by its own name and labels). The
 * sum prom-client's AggregatorRegistry makes for /metrics, done here by hand because its result is read only
 * asynchronously, and an exit must move its child's totals to the retired in the same turn as it drops its last
 * answer, or a scrape in between would count them nowhere.
 */
function summed(snapshots: MetricsJson[]): MetricsJson {
  const metrics = new Map<
    string,
    { metric: MetricsJson[number]; values: Map<string, MetricValue<string>> }
  >();
  for (const snapshot of snapshots)
    for (const metric of snapshot) {
      let entry = metrics.get(metric.name);
      if (entry === undefined) {
        entry = { metric, values: new Map() };
        metrics.set(metric.name, entry);
      }
      for (const value of metric.values) {
        const labels = Object.entries(value.labels).sort(([a], [b]) => (a < b ? -1 : 1));
        const key = JSON.stringify([(value as { metricName?: string }).metricName, labels]);
        const seen = entry.values.get(key);
        if (seen) seen.value += value.value;
        else entry.values.set(key, { ...value });
      }
    }
  return [...metrics.values()].map(({ metric, values }) => ({ ...metric, values: [...values.values()] }));
}
