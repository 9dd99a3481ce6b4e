#!/usr/bin/env node
// The `reach` command line: parses arguments, runs the engine or the service, prints and exits.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { ApiError, type ApiProbeRequest, createApiClient, isMultiVantageReport } from './api-client.js';
import { defaultThreads, threadLimits } from './batch/probe-pool.js';
import { runRemoteBatch } from './batch/remote.js';
import { concurrencyLimits, runBatch } from './batch/run.js';
import { InputError, parseResolver, probe, validateOptions } from './engine.js';
import { renderReport, renderVantageList, renderVantageReport } from './format.js';
import { dropFailedServiceOutput, type OutputWatch, watchOutput } from './standard-output.js';
import type { MultiVantageReport, Report, ResolverSpec } from './types.js';

const usage = `usage:
  reach probe <url> [--json] [--resolver IP[:PORT]]... [--control URL]... [--timeout MS] [--ca FILE]
  reach probe --file LIST|- [--json|--csv] [--concurrency N] [--threads N] [--strict] [--quiet] [--resolver ...]
                   [--control ...] [--control-refresh MS] [--timeout MS] [--ca FILE]
                   a list of URLs (one a line, # comments, or CSV with a url column; - reads standard input);
                   exit 0 when every URL is ok, 1 otherwise, 2 for bad usage (or a bad line with --strict),
                   130 when interrupted with Ctrl-C (the partial summary is printed), 141 when the reader of
                   its output closed it (| head): probes stopped, nothing more printed; --threads: the threads that
                   probe, sharing the concurrency (default one per core, at most 8, and one on 2 cores or fewer);
                   --control-refresh: a failed control is probed again at most this often (default 30000 ms)
  reach probe --file LIST|- --api URL [--vantages all|NAME,...] [--json|--csv] [--strict] [--quiet] [--resolver ...]
                   [--control ...] [--timeout MS]
                   the list as one batch of a running service (POST /batches), its results followed back; with
                   --vantages each URL is probed from those vantages and compared
  reach probe <url> --api URL [--vantages all|NAME,...] [--json] [--resolver ...] [--control ...] [--timeout MS]
                   through a running service (API key from REACH_API_KEY)
  reach vantages --api URL [--json]   the service's live vantage points
  reach serve      API and worker in one process (Redis from REDIS_URL, REDIS_SENTINELS or
                   REDIS_CLUSTER_NODES, or a private redis-server), and a worker process per
                   further core, at most 4 in all (WORKER_PROCESSES=N sets how many)
  reach api        the HTTP API only
  reach worker     a worker only; --vantage NAME [--labels k=v,...] makes it a vantage point
  reach --help`;

class UsageError extends Error {}

/** Standard output's failures, watched for the commands that print results (set by main). */
let output: OutputWatch | undefined;

/** The service could not answer (unreachable, 5xx, no result in time): neither the site's fault nor the input's. */
const exitServiceUnavailable = 3;

async function runProbe(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseProbeArgs>;
  try {
    parsed = parseProbeArgs(args);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.file !== undefined) {
    if (positionals.length > 0) throw new UsageError('probe takes a URL or --file LIST, not both');
    if (values.api !== undefined && values.concurrency !== undefined)
      throw new UsageError(
        '--concurrency is for a local batch; the service sets its own (BATCH_WORKER_CONCURRENCY)',
      );
    if (values.api !== undefined && values.threads !== undefined)
      throw new UsageError('--threads is for a local batch, not with --api');
    if (values.api !== undefined && values['control-refresh'] !== undefined)
      throw new UsageError(
        '--control-refresh is for a local batch; the service sets its own (BATCH_CONTROL_REFRESH_SECONDS)',
      );
  } else {
    for (const flag of ['csv', 'concurrency', 'threads', 'strict', 'quiet', 'control-refresh'] as const)
      if (values[flag] !== undefined) throw new UsageError(`--${flag} goes with --file LIST`);
    if (positionals.length !== 1) throw new UsageError('probe takes exactly one URL');
  }
  const timeoutText = values.timeout;
  const timeoutMs = timeoutText === undefined ? undefined : Number(timeoutText);
  if (timeoutText !== undefined && !/^\d+$/.test(timeoutText)) {
    throw new UsageError(
      `--timeout must be a whole number of milliseconds, got ${JSON.stringify(timeoutText)}`,
    );
  }
  if (values.vantages !== undefined && values.api === undefined)
    throw new UsageError('--vantages needs --api URL: vantage points are probed through a service');
  if (values.api !== undefined && values.file !== undefined) {
    if (values.ca !== undefined) throw new UsageError('--ca applies to a local probe only, not with --api');
    for (const resolver of values.resolver ?? []) parseResolver(resolver);
    return runBatchProbe(
      values,
      { resolvers: [], controls: values.control ?? [], timeoutMs, ca: [] },
      values.api,
    );
  }
  if (values.api !== undefined) {
    if (values.ca !== undefined) throw new UsageError('--ca applies to a local probe only, not with --api');
    // Checked here so a bad value is one line of usage rather than the service's 400.
    for (const resolver of values.resolver ?? []) parseResolver(resolver);
    const request: ApiProbeRequest = { url: positionals[0] as string };
    if (values.resolver) request.resolvers = values.resolver;
    if (values.control) request.controls = values.control;
    if (timeoutMs !== undefined) request.timeoutMs = timeoutMs;
    if (values.vantages !== undefined) request.vantages = parseVantageList(values.vantages);
    return probeThroughService(apiBaseUrl(values.api), request, values.json === true);
  }
  const ca = (values.ca ?? []).map((file) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read --ca ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  });
  if (values.file !== undefined)
    return runBatchProbe(values, {
      resolvers: (values.resolver ?? []).map(parseResolver),
      controls: values.control ?? [],
      timeoutMs,
      ca,
    });
  const report = await probe({
    url: positionals[0] as string,
    resolvers: (values.resolver ?? []).map(parseResolver),
    controls: values.control ?? [],
    timeoutMs,
    ca,
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(`${renderReport(report, process.stdout.isTTY === true && !process.env.NO_COLOR)}\n`);
  }
  return report.verdict.cause === 'ok' ? 0 : 1;
}

function parseProbeArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      resolver: { type: 'string', multiple: true },
      control: { type: 'string', multiple: true },
      timeout: { type: 'string' },
      ca: { type: 'string', multiple: true },
      api: { type: 'string' },
      vantages: { type: 'string' },
      file: { type: 'string' },
      csv: { type: 'boolean' },
      concurrency: { type: 'string' },
      threads: { type: 'string' },
      'control-refresh': { type: 'string' },
      strict: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
}

/** `reach probe --file`: checks the batch's flags, runs it (here, or as a batch of the service at `api`), stops it on Ctrl-C. */
async function runBatchProbe(
  values: ReturnType<typeof parseProbeArgs>['values'],
  common: { resolvers: ResolverSpec[]; controls: string[]; timeoutMs: number | undefined; ca: string[] },
  api?: string,
): Promise<number> {
  if (values.json && values.csv) throw new UsageError('--json and --csv: choose one');
  const concurrency = parseConcurrency(values.concurrency);
  const threads = parseThreads(values.threads, concurrency);
  const controlRefreshMs = parseControlRefresh(values['control-refresh']);
  // Checked before the list is read, so bad options fail before any probe.
  validateOptions({ url: 'http://127.0.0.1/', controls: common.controls, timeoutMs: common.timeoutMs });
  const interrupt = new AbortController();
  const onInterrupt = () => {
    // A second Ctrl-C does not wait for the aborted probes.
    if (interrupt.signal.aborted) process.exit(130);
    interrupt.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onInterrupt);
  const shared = {
    listPath: values.file as string,
    format: values.json ? 'json' : values.csv ? 'csv' : 'summary',
    isStrict: values.strict === true,
    showsProgress: process.stderr.isTTY === true && values.quiet !== true,
    signal: interrupt.signal,
    ...(output ? { outputClosed: output.signal } : {}),
    stdout: process.stdout,
    stderr: process.stderr,
  } as const;
  try {
    const outcome =
      api === undefined
        ? await runBatch({ ...shared, ...common, concurrency, threads, controlRefreshMs })
        : await runRemoteBatch({
            ...shared,
            client: apiClientFor(apiBaseUrl(api)),
            resolvers: values.resolver ?? [],
            controls: common.controls,
            ...(common.timeoutMs === undefined ? {} : { timeoutMs: common.timeoutMs }),
            ...(values.vantages === undefined ? {} : { vantages: parseVantageList(values.vantages) }),
          });
    if (outcome.kind === 'rejected') throw new UsageError(`line ${outcome.lineNumber}: ${outcome.reason}`);
    if (outcome.kind === 'interrupted') return 130;
    return outcome.isAllOk ? 0 : 1;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/** The least time between two probes of a failed control in a local batch: whole milliseconds. */
const controlRefreshLimits = { min: 0, max: 86_400_000, default: 30_000 } as const;

/** A flag's whole number within its limits, or the one-line usage error that names the flag. */
function wholeNumberOf(flag: string, text: string, limits: { min: number; max: number }, unit = ''): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < limits.min || value > limits.max)
    throw new UsageError(
      `--${flag} must be a whole number${unit} from ${limits.min} to ${limits.max}, got ${JSON.stringify(text)}`,
    );
  return value;
}

function parseControlRefresh(text: string | undefined): number {
  if (text === undefined) return controlRefreshLimits.default;
  return wholeNumberOf('control-refresh', text, controlRefreshLimits, ' of milliseconds');
}

function parseConcurrency(text: string | undefined): number {
  if (text === undefined) return concurrencyLimits.default;
  return wholeNumberOf('concurrency', text, concurrencyLimits);
}

function parseThreads(text: string | undefined, concurrency: number): number {
  if (text === undefined) return defaultThreads(concurrency);
  return wholeNumberOf('threads', text, threadLimits);
}

function apiBaseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--api must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--api must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
  if (url.search || url.hash) throw new UsageError('--api takes the service base URL, without ? or #');
  return url.href;
}

/** `all`, or names separated by commas. */
function parseVantageList(text: string): 'all' | string[] {
  if (text === 'all') return 'all';
  const names = text.split(',').map((name) => name.trim());
  if (names.some((name) => name === ''))
    throw new UsageError(`--vantages takes "all" or names separated by commas, got ${JSON.stringify(text)}`);
  return names;
}

function apiClientFor(baseUrl: string) {
  const apiKey = process.env.REACH_API_KEY;
  return createApiClient({ baseUrl, ...(apiKey ? { apiKey } : {}) });
}

async function probeThroughService(
  baseUrl: string,
  request: ApiProbeRequest,
  isJson: boolean,
): Promise<number> {
  const report: Report | MultiVantageReport = await apiClientFor(baseUrl).probe(request);
  const useColour = process.stdout.isTTY === true && !process.env.NO_COLOR;
  if (isJson) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else if (isMultiVantageReport(report)) process.stdout.write(`${renderVantageReport(report, useColour)}\n`);
  else process.stdout.write(`${renderReport(report, useColour)}\n`);
  return report.verdict.cause === 'ok' ? 0 : 1;
}

async function runVantages(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseVantagesArgs>;
  try {
    parsed = parseVantagesArgs(args);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.api === undefined) throw new UsageError('vantages needs --api URL');
  const vantages = await apiClientFor(apiBaseUrl(parsed.values.api)).vantages();
  if (parsed.values.json) process.stdout.write(`${JSON.stringify({ vantages }, null, 2)}\n`);
  else process.stdout.write(`${renderVantageList(vantages)}\n`);
  return 0;
}

function parseVantagesArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: { api: { type: 'string' }, json: { type: 'boolean' } },
  });
}

/**
 * `--vantage NAME` and `--labels k=v,...` for serve and worker: the same as VANTAGE_NAME and VANTAGE_LABELS.
 * Everything else is configured with environment variables.
 */
function vantageArguments(command: 'serve' | 'api' | 'worker', args: string[]): Record<string, string> {
  if (args.length === 0) return {};
  if (command === 'api')
    throw new UsageError('api takes no arguments; configure it with environment variables');
  let parsed: ReturnType<typeof parseVantageArgs>;
  try {
    parsed = parseVantageArgs(args);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return {
    ...(parsed.values.vantage !== undefined ? { VANTAGE_NAME: parsed.values.vantage } : {}),
    ...(parsed.values.labels !== undefined ? { VANTAGE_LABELS: parsed.values.labels } : {}),
  };
}

function parseVantageArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: false,
    strict: true,
    options: { vantage: { type: 'string' }, labels: { type: 'string' } },
  });
}

async function runService(command: 'serve' | 'api' | 'worker', args: string[]): Promise<number> {
  const vantage = vantageArguments(command, args);
  // Loaded on demand: the probe command must not pay for Express, BullMQ and Redis clients.
  const service = await import('./service.js');
  // A worker process of serve's (WORKER_PROCESSES) gets serve's Redis from serve.
  const fromServe = command === 'worker' ? await service.environmentFromServe() : {};
  const environment = { ...process.env, ...vantage, ...fromServe };
  let config: ReturnType<typeof service.loadServiceConfig>;
  try {
    config = service.loadServiceConfig(environment);
  } catch (error) {
    // A setting at fault is bad usage, like a bad argument: one line, exit 2.
    if (error instanceof service.ConfigError) throw new UsageError(error.message);
    throw error;
  }
  if (command === 'serve') await service.runServe(config, args);
  else await (command === 'api' ? service.runApi : service.runWorker)(config);
  return 0;
}

/**
 * undici parses HTTP with WebAssembly (llhttp). V8 compiles it with its baseline compiler (Liftoff), then, once the
 * parser is hot, again with its optimising one (TurboFan) on a background thread: about 240 ms of CPU for the
 * parser's one large function, and a process cannot exit before that compile ends, so every run of a command that
 * probes and ends paid it (the end of a one-URL run waited 240-300 ms with nothing to do). The baseline code parses
 * a batch's answers about as fast (bench/RESULTS.md, "the CLI's start and end"). Set before the first exchange
 * compiles the parser; the service's commands, which run for long, keep the optimising compiler.
 */
function keepBaselineWasm(): void {
  v8.setFlagsFromString('--liftoff-only');
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'probe' || command === 'vantages') keepBaselineWasm();
  // The service's commands log to stdout and run on when it fails; the others' output is their work.
  if (command === 'serve' || command === 'api' || command === 'worker')
    dropFailedServiceOutput(process.stdout, process.stderr);
  else
    output = watchOutput(process.stdout, process.stderr, (failure) => {
      if (failure.line) process.stderr.write(`${failure.line}\n`);
      // Also when it comes after main has answered (the last write of a single report failing).
      process.exitCode = failure.exitCode;
    });
  try {
    switch (command) {
      case 'probe':
        return await runProbe(rest);
      case 'vantages':
        return await runVantages(rest);
      case 'serve':
      case 'api':
      case 'worker':
        return await runService(command, rest);
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(`${usage}\n`);
        return 0;
      case undefined:
        throw new UsageError('no command given (try: reach probe <url>)');
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)} (try: reach --help)`);
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof InputError) {
      process.stderr.write(`reach: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ApiError) {
      process.stderr.write(`reach: ${error.message}\n`);
      return error.kind === 'problem' ? 2 : exitServiceUnavailable;
    }
    throw error;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    const failure = output?.failure();
    // What is still open (a socket closing, a worker thread ending) could only print into the closed pipe.
    if (failure) process.exit(failure.exitCode);
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `reach: internal error: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`,
    );
    // A bug: exit now rather than wait on whatever the failed probe left open.
    process.exit(70);
  },
);
