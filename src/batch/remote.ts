// `reach probe --file LIST --api URL`: the list read as locally, submitted as one batch, its results followed and
// written in the same formats as a local run.
import type { Writable } from 'node:stream';
import { type ApiBatchRequest, type ApiClient, ApiError } from '../api-client.js';
import { type ListEntry, openList, readEntries, surveyList } from './input.js';
import type { BatchItem } from './item.js';
import { itemCsvHeader, itemCsvRow, verdictLineOf } from './item.js';
import { BatchTally, type Interruption, type OutputFormat, renderSummary, writeLine } from './output.js';
import { formatProgress, startProgress } from './progress.js';
import { type BatchOutcome, listSourceOf } from './run.js';

export interface RemoteBatchOptions {
  client: ApiClient;
  listPath: string;
  resolvers: string[];
  controls: string[];
  timeoutMs?: number;
  /** Each URL probed from these vantages of the service and compared. */
  vantages?: ApiBatchRequest['vantages'];
  format: OutputFormat;
  isStrict: boolean;
  showsProgress: boolean;
  /** Aborted on Ctrl-C: the batch is cancelled on the service and what has ended is summed up. */
  signal: AbortSignal;
  /** Aborted when stdout's reader has gone (`| head`): the batch is cancelled and nothing more written. */
  outputClosed?: AbortSignal;
  stdout: Writable;
  stderr: NodeJS.WriteStream | Writable;
  /** Times a broken result stream is opened again without any new result before giving up. */
  maxRetries?: number;
  retryDelayMs?: number;
}

export async function runRemoteBatch(options: RemoteBatchOptions): Promise<BatchOutcome> {
  const source = await listSourceOf(options.listPath);
  if (options.isStrict && source.kind === 'file') {
    const { firstBad } = await surveyList(options.listPath);
    if (firstBad?.kind === 'bad')
      return { kind: 'rejected', lineNumber: firstBad.lineNumber, reason: firstBad.reason };
  }
  const tally = new BatchTally();
  const urls: string[] = [];
  for await (const entry of readEntries(openList(options.listPath))) {
    if (entry.kind === 'url') {
      urls.push(entry.url);
      continue;
    }
    if (options.isStrict) return { kind: 'rejected', ...badLine(entry) };
    tally.skippedLines++;
    options.stderr.write(`reach: line ${entry.lineNumber}: ${entry.reason}; skipped\n`);
  }
  if (options.format === 'csv')
    await writeLine(options.stdout, itemCsvHeader(options.vantages !== undefined));
  if (urls.length === 0) return finish(options, tally, undefined);

  const request: ApiBatchRequest = { urls };
  if (options.resolvers.length > 0) request.resolvers = options.resolvers;
  if (options.controls.length > 0) request.controls = options.controls;
  if (options.timeoutMs !== undefined) request.timeoutMs = options.timeoutMs;
  if (options.vantages !== undefined) request.vantages = options.vantages;
  const { id, total } = await options.client.submitBatch(request);

  const startedMs = performance.now();
  const progress = options.showsProgress
    ? startProgress(options.stderr as NodeJS.WriteStream, () =>
        formatProgress(tally, total, performance.now() - startedMs),
      )
    : undefined;
  const stop = new AbortController();
  const signal = options.outputClosed
    ? AbortSignal.any([options.signal, options.outputClosed])
    : options.signal;
  const onAbort = () => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  let seen = 0;
  try {
    let retriesLeft = options.maxRetries ?? 30;
    while (seen < total && !stop.signal.aborted) {
      const before = seen;
      for await (const line of options.client.batchResultLines(id, seen, stop.signal)) {
        seen++;
        const item = JSON.parse(line) as BatchItem;
        tally.add(verdictLineOf(item));
        await writeItem(options, item);
      }
      if (seen >= total || stop.signal.aborted) break;
      // The stream ended before every URL had a result: the service restarted, or Redis did. Resume after a pause.
      retriesLeft = seen > before ? (options.maxRetries ?? 30) : retriesLeft - 1;
      if (retriesLeft <= 0)
        throw new ApiError(
          'unavailable',
          `batch ${id}: the result stream kept breaking after ${seen} of ${total}`,
        );
      await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 1000));
    }
  } finally {
    progress?.stop();
    signal.removeEventListener('abort', onAbort);
  }
  if (!signal.aborted) return finish(options, tally, undefined);
  // What has not started is cancelled on the service; what is in flight there finishes and is kept with the batch.
  const cancelled = await options.client.cancelBatch(id).then(
    () => `batch ${id} cancelled on the service`,
    (error: unknown) =>
      `batch ${id} could not be cancelled on the service (${error instanceof Error ? error.message : String(error)}); it runs on there`,
  );
  // The output's reader is gone (| head): the batch is cancelled, and there is no one to tell.
  if (options.outputClosed?.aborted) return { kind: 'interrupted' };
  if (options.format !== 'summary')
    options.stderr.write(`reach: interrupted after ${seen} URLs; ${cancelled}\n`);
  // Probes in flight on the service are not aborted: they finish there, and GET /batches/:id/results has them.
  return finish(options, tally, {
    line: `interrupted: ${cancelled}; ${total - seen} of its ${total} URLs have no result here (those in flight there finish and are kept with the batch)`,
  });
}

async function finish(
  options: RemoteBatchOptions,
  tally: BatchTally,
  interruption: Interruption | undefined,
): Promise<BatchOutcome> {
  if (options.format === 'summary') await writeLine(options.stdout, renderSummary(tally, interruption));
  return interruption ? { kind: 'interrupted' } : { kind: 'completed', isAllOk: tally.isAllOk };
}

function badLine(entry: ListEntry & { kind: 'bad' }) {
  return { lineNumber: entry.lineNumber, reason: entry.reason };
}

/** A report as `--json` writes it locally; an item without one (refused, cancelled, failed) as the item. */
async function writeItem(options: RemoteBatchOptions, item: BatchItem): Promise<void> {
  if (options.format === 'json')
    await writeLine(options.stdout, JSON.stringify(item.status === 'completed' ? item.report : item));
  else if (options.format === 'csv')
    await writeLine(options.stdout, itemCsvRow(item, options.vantages !== undefined));
}
