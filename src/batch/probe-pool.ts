// Probes a batch's URLs on several threads, so that a batch uses every core: the main thread reads the list,
// hands each URL to the thread with the fewest in flight (itself included), and counts and prints the results.
import { Worker } from 'node:worker_threads';
import type { ControlResult, ResolverSpec } from '../types.js';
import { usableCores } from '../usable-cores.js';
import type { BatchResult, OutputFormat } from './output.js';

/**
 * `--threads`: the threads that probe, the main one included (1: the main thread alone). More than the cores
 * only adds memory and warm-up: each thread is a V8 isolate of its own that compiles and optimises the engine
 * again, which is why the main thread probes too rather than only orchestrating.
 */
export const threadLimits = { min: 1, max: 64 } as const;

/**
 * One probing thread per core (at most 8), never more threads than probes in flight; one alone on a machine of
 * two cores or fewer, where a second thread measured 1.3-1.5x the CPU per URL and a lower rate (bench/RESULTS.md,
 * "Batch speed (#14, CLI half)"): the kernel's loopback work and the targets already hold the other core.
 */
export function defaultThreads(concurrency: number): number {
  const cores = usableCores();
  if (cores <= 2) return 1;
  return Math.max(1, Math.min(cores, 8, concurrency));
}

/** What every probing thread is started with: the options shared by every URL of the batch. */
export interface ThreadSettings {
  resolvers: ResolverSpec[];
  timeoutMs?: number;
  ca: string[];
  format: OutputFormat;
}

/** Main thread → probing thread: URLs to probe (with the controls, when they changed), or stop. */
export type ToThread =
  | { kind: 'probe'; jobs: { id: number; url: string }[]; controls?: ControlResult[] }
  | { kind: 'stop' };

/** Probing thread → main thread, in arrays: one result a URL, or the error that is a bug of ours. */
export type ThreadResult =
  | { id: number; kind: 'result'; result: BatchResult }
  | { id: number; kind: 'failed'; message: string };

/** How long the threads get to hand back the probes they aborted on a stop before those are given up. */
const stopGraceMs = 500;

interface Pending {
  url: string;
  resolve(result: BatchResult | undefined): void;
  reject(error: Error): void;
}

interface PoolOptions {
  /** Worker threads besides this one, started once this thread holds `startWorkersAt` probes. */
  workers: number;
  startWorkersAt: number;
  settings: ThreadSettings;
  /** Probes on this thread; its probes are stopped by the caller's own signal. */
  probeHere: (url: string, controls: ControlResult[]) => Promise<BatchResult>;
  /** Told once per thread lost (it could not start, or died): its URLs are probed again on this thread. */
  onThreadLost?: (message: string) => void;
}

interface ProbeThread {
  worker: Worker;
  pending: Map<number, Pending>;
  /** URLs waiting for this turn's message. */
  jobs: { id: number; url: string }[];
  sentControls?: ControlResult[];
  isGone: boolean;
}

export class ProbePool {
  #threads: ProbeThread[] = [];
  readonly #options: PoolOptions;
  #herePending = 0;
  #nextId = 0;
  #isFlushScheduled = false;
  #isClosing = false;
  #controls: ControlResult[] = [];
  #stopTimer: NodeJS.Timeout | undefined;

  constructor(options: PoolOptions) {
    this.#options = options;
  }

  #start(settings: ThreadSettings): ProbeThread {
    const worker = new Worker(new URL('./probe-thread.js', import.meta.url), { workerData: settings });
    const thread: ProbeThread = { worker, pending: new Map(), jobs: [], isGone: false };
    worker.on('message', (results: ThreadResult[]) => {
      for (const message of results) {
        const pending = thread.pending.get(message.id);
        if (!pending) continue; // given up on after a stop
        thread.pending.delete(message.id);
        if (message.kind === 'result') pending.resolve(message.result);
        else pending.reject(new Error(message.message));
      }
    });
    // A thread that could not start (its modules unreadable: EMFILE past `ulimit -n`) or that died: the batch goes
    // on without it, its URLs probed again on this thread, so none ends without a result.
    const fail = (message: string) => {
      if (thread.isGone) return;
      thread.isGone = true;
      if (this.#isClosing) return;
      this.#options.onThreadLost?.(message);
      for (const pending of thread.pending.values())
        this.#probeOnThisThread(pending.url, this.#controls).then(pending.resolve, pending.reject);
      thread.pending.clear();
    };
    worker.on('error', (error) => fail(`a probing thread failed: ${error.message}`));
    worker.on('exit', (code) => fail(`a probing thread exited (code ${code})`));
    return thread;
  }

  /**
   * Probes a URL on the least busy thread (a busier thread's probes take longer, so it holds more in flight and
   * gets fewer new ones) with the batch's controls of the moment; undefined when the pool was stopped before a
   * worker handed the result back.
   */
  probe(url: string, controls: ControlResult[]): Promise<BatchResult | undefined> {
    this.#controls = controls;
    // A short list stays on this thread: a worker is worth its start (loading and warming up the engine
    // again) only once this thread holds many probes.
    if (this.#threads.length === 0) {
      if (this.#herePending < this.#options.startWorkersAt) return this.#probeOnThisThread(url, controls);
      this.startWorkers();
    }
    let thread: ProbeThread | undefined;
    for (const each of this.#threads)
      if (!each.isGone && (!thread || each.pending.size < thread.pending.size)) thread = each;
    if (!thread || this.#herePending <= thread.pending.size) return this.#probeOnThisThread(url, controls);
    const id = this.#nextId++;
    const chosen = thread;
    const result = new Promise<BatchResult | undefined>((resolve, reject) =>
      chosen.pending.set(id, { url, resolve, reject }),
    );
    chosen.jobs.push({ id, url });
    if (!this.#isFlushScheduled) {
      this.#isFlushScheduled = true;
      setImmediate(() => this.#flush());
    }
    return result;
  }

  /**
   * Starts the worker threads now, if not yet started: a caller that knows the list is long starts them before
   * it reads the list and probes the controls, so that their start (loading, compiling the engine) overlaps
   * that work instead of following it.
   */
  startWorkers(): void {
    if (this.#threads.length > 0 || this.#isClosing) return;
    this.#threads = Array.from({ length: this.#options.workers }, () => this.#start(this.#options.settings));
  }

  #probeOnThisThread(url: string, controls: ControlResult[]): Promise<BatchResult> {
    this.#herePending++;
    return this.#options.probeHere(url, controls).finally(() => {
      this.#herePending--;
    });
  }

  /** Sends each thread the URLs of this turn in one message, the controls only to a thread that lacks them. */
  #flush(): void {
    this.#isFlushScheduled = false;
    for (const thread of this.#threads) {
      if (thread.jobs.length === 0 || thread.isGone) continue;
      const message: ToThread = { kind: 'probe', jobs: thread.jobs };
      if (thread.sentControls !== this.#controls) {
        message.controls = this.#controls;
        thread.sentControls = this.#controls;
      }
      thread.jobs = [];
      thread.worker.postMessage(message);
    }
  }

  /** Aborts every probe in flight; those not handed back within {@link stopGraceMs} come to undefined. */
  stop(): void {
    if (this.#stopTimer) return;
    for (const thread of this.#threads) if (!thread.isGone) thread.worker.postMessage({ kind: 'stop' });
    this.#stopTimer = setTimeout(() => {
      for (const thread of this.#threads) {
        for (const pending of thread.pending.values()) pending.resolve(undefined);
        thread.pending.clear();
      }
    }, stopGraceMs);
  }

  async close(): Promise<void> {
    this.#isClosing = true;
    clearTimeout(this.#stopTimer);
    await Promise.all(this.#threads.map((thread) => thread.worker.terminate()));
  }
}
