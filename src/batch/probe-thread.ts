// A batch's probing thread (node:worker_threads): probes the URLs the main thread hands it, its share of the
// batch's concurrency, and sends back each result as the line to print and the verdict to count.
import { parentPort, workerData } from 'node:worker_threads';
import { AbortFanOut } from '../abort-fan-out.js';
import { probe } from '../engine.js';
import type { ControlResult } from '../types.js';
import { batchResultOf } from './output.js';
import type { ThreadResult, ThreadSettings, ToThread } from './probe-pool.js';

const port = parentPort;
if (!port) throw new Error('probe-thread.js runs as a worker thread of a batch, not on its own');
const settings = workerData as ThreadSettings;
const stop = new AbortController();
const inFlight = AbortFanOut.of(stop.signal);
let controls: ControlResult[] = [];

// The results of one turn of the event loop go back in one message, as the main thread sends its URLs.
let outbox: ThreadResult[] = [];
const send = (result: ThreadResult) => {
  outbox.push(result);
  if (outbox.length === 1)
    setImmediate(() => {
      port.postMessage(outbox);
      outbox = [];
    });
};

async function probeOne(id: number, url: string): Promise<void> {
  try {
    const report = await probe({
      url,
      resolvers: settings.resolvers,
      controlResults: controls,
      ...(settings.timeoutMs === undefined ? {} : { timeoutMs: settings.timeoutMs }),
      ca: settings.ca,
      registerStop: inFlight.register,
    });
    send({ id, kind: 'result', result: batchResultOf(report, settings.format) });
  } catch (error) {
    // A bug or our own infrastructure failing, never the target's failure: the batch fails with it.
    send({
      id,
      kind: 'failed',
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  }
}

port.on('message', (message: ToThread) => {
  if (message.kind === 'stop') {
    stop.abort(new Error('interrupted'));
    return;
  }
  if (message.controls) controls = message.controls;
  for (const job of message.jobs) void probeOne(job.id, job.url);
});
