// Runs a batch: streams the list through a pool of at most `concurrency` probes and writes each result as it ends.
import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { AbortFanOut } from '../abort-fan-out.js';
import { InputError, probe } from '../engine.js';
import type { ControlResult, ResolverSpec } from '../types.js';
import { probeBatchControls } from './controls.js';
import { type ListEntry, openList, readEntries, surveyList } from './input.js';
import {
  type BatchResult,
  BatchTally,
  batchResultOf,
  csvHeader,
  LineWriter,
  type OutputFormat,
  renderSummary,
} from './output.js';
import { ProbePool } from './probe-pool.js';
import { formatProgress, startProgress } from './progress.js';

/** The most in flight at once: each probe holds a socket, so a high value also needs `ulimit -n` above it. */
export const concurrencyLimits = { min: 1, max: 10_000, default: 50 } as const;

export interface BatchOptions {
  /** A file's path, or `-` for standard input. */
  listPath: string;
  resolvers: ResolverSpec[];
  controls: string[];
  timeoutMs?: number;
  ca: string[];
  /** A failed control is probed again at most this often (default 30 s). */
  controlRefreshMs?: number;
  concurrency: number;
  /** Threads that probe, this one included (1: this one alone), sharing the concurrency. */
  threads: number;
  format: OutputFormat;
  /** A bad line ends the batch (before any probe when the list is a file) instead of being skipped. */
  isStrict: boolean;
  /** Draw the progress line on stderr (the caller checks that it is a terminal). */
  showsProgress: boolean;
  /** Aborted on Ctrl-C: no new probe starts and those in flight are aborted. */
  signal: AbortSignal;
  /** Aborted when stdout's reader has gone (`| head`): the batch stops as on Ctrl-C and writes nothing more. */
  outputClosed?: AbortSignal;
  stdout: Writable;
  stderr: NodeJS.WriteStream | Writable;
}

export type BatchOutcome =
  | { kind: 'completed'; isAllOk: boolean }
  | { kind: 'interrupted' }
  | { kind: 'rejected'; lineNumber: number; reason: string };

export async function runBatch(options: BatchOptions): Promise<BatchOutcome> {
  let total: number | undefined;
  const source = await listSourceOf(options.listPath);
  const listBytes = source.kind === 'file' ? source.bytes : undefined;
  // A file is read twice (the survey, then the run); standard input, a pipe or a device only once.
  if (source.kind === 'file') {
    if (options.isStrict) {
      const { urlCount, firstBad } = await surveyList(options.listPath);
      if (firstBad?.kind === 'bad') return { kind: 'rejected', ...badLine(firstBad) };
      total = urlCount;
    } else if (options.showsProgress) {
      // The total is only for the progress line (a second pass over the list): the batch does not wait for it.
      surveyList(options.listPath).then(
        (result) => {
          total = result.urlCount;
        },
        () => {},
      );
    }
  }
  const input = openList(options.listPath);
  const stop = new AbortController();
  const inFlight = AbortFanOut.of(stop.signal);
  const probeHere = async (url: string, controlResults: ControlResult[]): Promise<BatchResult> => {
    const report = await probe({
      url,
      resolvers: options.resolvers,
      controlResults,
      timeoutMs: options.timeoutMs,
      ca: options.ca,
      registerStop: inFlight.register,
    });
    return batchResultOf(report, options.format);
  };
  const threads = Math.min(options.threads, options.concurrency);
  const onThreadLost = (message: string) =>
    options.stderr.write(`reach: ${message}; its URLs go to the other threads\n`);
  const pool =
    threads > 1
      ? new ProbePool({
          workers: threads - 1,
          // Its share of the concurrency, or 64 probes in flight: a list that keeps that many going here is
          // long enough to repay the workers' start, and at a high concurrency they start without waiting
          // for this thread to have opened thousands of connections alone.
          startWorkersAt: Math.min(Math.ceil(options.concurrency / threads), 64),
          probeHere,
          onThreadLost,
          settings: {
            resolvers: options.resolvers,
            ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
            ca: options.ca,
            format: options.format,
          },
        })
      : undefined;
  // A long list repays the workers' start: they start now, loading the engine while this thread probes the
  // controls and reads the list, rather than once it holds many probes.
  if (listBytes !== undefined && listBytes >= longListBytes) pool?.startWorkers();
  stop.signal.addEventListener('abort', () => pool?.stop(), { once: true });
  const signal = options.outputClosed
    ? AbortSignal.any([options.signal, options.outputClosed])
    : options.signal;
  const onAbort = () => stop.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();

  const tally = new BatchTally();
  const output = new LineWriter(options.stdout);
  const startedMs = performance.now();
  const progress = options.showsProgress
    ? startProgress(options.stderr as NodeJS.WriteStream, () =>
        formatProgress(tally, total, performance.now() - startedMs),
      )
    : undefined;
  let rejected: ListEntry | undefined;
  let abortedCount = 0;
  try {
    const controls = await probeBatchControls({
      urls: options.controls,
      resolvers: options.resolvers,
      timeoutMs: options.timeoutMs,
      ca: options.ca,
      signal: stop.signal,
      ...(options.controlRefreshMs === undefined ? {} : { refreshMs: options.controlRefreshMs }),
    });
    if (options.format === 'csv') await output.write(csvHeader);
    // Once stopped, nothing more is read: the signal closes the line reader the workers pull from.
    const entries = readEntries(input, stop.signal);
    const exhaustion = new ExhaustionBackoff(options.concurrency, options.stderr);
    const work = async () => {
      while (!stop.signal.aborted) {
        let retry = exhaustion.nextRetry();
        if (retry === undefined) {
          const next = await entries.next();
          if (stop.signal.aborted) return;
          if (next.done) {
            // URLs another probe handed back may still wait for a probe.
            retry = exhaustion.nextRetry();
            if (retry === undefined) return exhaustion.leave();
          } else if (next.value.kind === 'bad') {
            const entry = next.value;
            if (options.isStrict) {
              rejected ??= entry;
              stop.abort(new Error('bad line'));
              return;
            }
            tally.skippedLines++;
            options.stderr.write(`reach: line ${entry.lineNumber}: ${entry.reason}; skipped\n`);
            continue;
          } else retry = { url: next.value.url, attempts: 0 };
        }
        const result = pool
          ? await pool.probe(retry.url, controls.current())
          : await probeHere(retry.url, controls.current());
        // A probe cut short by the stop is not a finding about the site: it is counted apart.
        if (stop.signal.aborted || result === undefined) {
          abortedCount++;
          continue;
        }
        if (result.verdict.code === 'local.resources_exhausted') {
          const handling = await exhaustion.handBack(retry);
          if (handling === 'leave') return;
          if (handling === 'retry') continue;
        }
        tally.add(result);
        if (result.line !== undefined) await output.write(result.line);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, work)).catch((error: unknown) => {
      stop.abort(error);
      throw error;
    });
  } finally {
    progress?.stop();
    signal.removeEventListener('abort', onAbort);
    input.destroy();
    await pool?.close();
  }
  if (rejected?.kind === 'bad') return { kind: 'rejected', ...badLine(rejected) };
  // The output's reader is gone (| head): nothing more to write, and no one to read a line on stderr about it.
  if (options.outputClosed?.aborted) return { kind: 'interrupted' };
  const isInterrupted = options.signal.aborted;
  if (options.format === 'summary')
    await output.write(renderSummary(tally, isInterrupted ? { abortedCount } : undefined));
  else if (isInterrupted)
    options.stderr.write(
      `reach: interrupted after ${tally.done} URLs; ${abortedCount} probes in flight aborted\n`,
    );
  return isInterrupted ? { kind: 'interrupted' } : { kind: 'completed', isAllOk: tally.isAllOk };
}

/** How many times a URL whose probe met this machine's limits is probed again before its report stands. */
const exhaustedRetries = 5;

/**
 * Fewer probes at once after a probe fails on this machine's own limits (EMFILE: more sockets than `ulimit -n`
 * allows): its URL is handed back to be probed again, and the loop that ran it stops, so the batch settles at the
 * concurrency the machine allows instead of reporting healthy sites as failing. The last loop keeps going, waiting
 * a little longer each time; a URL that meets the limit `exhaustedRetries` times keeps its report.
 */
class ExhaustionBackoff {
  #running: number;
  readonly #retries: Array<{ url: string; attempts: number }> = [];
  #hasWarned = false;

  constructor(
    concurrency: number,
    private readonly stderr: NodeJS.WriteStream | Writable,
  ) {
    this.#running = concurrency;
  }

  nextRetry(): { url: string; attempts: number } | undefined {
    return this.#retries.shift();
  }

  leave(): void {
    this.#running -= 1;
  }

  /** 'report' when the URL has been tried enough; else 'leave' (this loop stops) or 'retry' (after a wait). */
  async handBack(item: { url: string; attempts: number }): Promise<'report' | 'leave' | 'retry'> {
    if (item.attempts >= exhaustedRetries) return 'report';
    this.#retries.push({ url: item.url, attempts: item.attempts + 1 });
    if (!this.#hasWarned) {
      this.#hasWarned = true;
      this.stderr.write(
        `reach: this machine ran out of open files with ${this.#running} probes at once (ulimit -n); probing fewer at once, and those URLs again\n`,
      );
    }
    if (this.#running > 1) {
      this.leave();
      return 'leave';
    }
    await new Promise((resolve) => setTimeout(resolve, 100 * (item.attempts + 1)));
    return 'retry';
  }
}

function badLine(entry: ListEntry & { kind: 'bad' }) {
  return { lineNumber: entry.lineNumber, reason: entry.reason };
}

/**
 * A list file of this size or more (about 1,500 URLs of 40 bytes) starts the probing threads at once, before
 * the list is read; a shorter one, or standard input, starts them only once the main thread holds many probes.
 */
const longListBytes = 64 * 1024;

/**
 * What a list named on the command line is: a file (its size known, read again for the survey) or a stream read
 * once: `-`, a named pipe, a shell's `<(command)`, a device. A directory or a path that is not there is one line
 * of usage, not a crash.
 */
export async function listSourceOf(
  path: string,
): Promise<{ kind: 'file'; bytes: number } | { kind: 'stream' }> {
  if (path === '-') return { kind: 'stream' };
  let file: Awaited<ReturnType<typeof stat>>;
  try {
    file = await stat(path);
  } catch (error) {
    throw new InputError(
      'file',
      `cannot read --file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  if (file.isDirectory()) throw new InputError('file', `--file ${path} is a directory`);
  return file.isFile() ? { kind: 'file', bytes: file.size } : { kind: 'stream' };
}
