// GET /batches/:id/results: the stored results streamed page by page as NDJSON or CSV, never held whole.
import type { Response } from 'express';
import { HttpProblem } from '../../requests/problems.js';
import { type BatchItem, type ItemCause, itemCsvHeader, itemCsvRow } from '../item.js';
import type { BatchRecord, BatchStore } from '../store.js';

export type ResultFormat = 'ndjson' | 'csv';

/** Results read from Redis per round trip: what the answer holds in memory at most. */
export const resultPageSize = 200;
/** How often a followed batch is read again once every result so far has been written. */
const followIntervalMs = 250;

export interface StreamOptions {
  store: BatchStore;
  batch: BatchRecord;
  format: ResultFormat;
  response: Response;
  causes: ReadonlySet<ItemCause> | undefined;
  /** Results (in the order they ended, filtered or not) to skip: where a broken stream resumes. */
  offset: number;
  /** Keep writing results as they end, until every URL has one (or the client leaves, or the service stops). */
  isFollowing: boolean;
  closing: AbortSignal;
}

export async function streamResults(options: StreamOptions): Promise<void> {
  const { store, batch, response, causes } = options;
  const left = new AbortController();
  response.once('close', () => left.abort());
  let offset = options.offset;
  let hasWritten = false;
  const hasVantages = batch.options.vantages !== undefined;
  const write = async (text: string) => {
    if (!hasWritten) {
      response
        .status(200)
        .type(options.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
        .setHeader('Cache-Control', 'no-store');
      hasWritten = true;
    }
    if (!response.write(text)) await drained(response, left.signal);
  };
  try {
    if (options.format === 'csv') await write(`${itemCsvHeader(hasVantages)}\n`);
    while (!left.signal.aborted) {
      const page = await store.resultPage(batch.id, offset, resultPageSize);
      offset += page.length;
      let chunk = '';
      for (const text of page) {
        if (causes && !causes.has(causeOfStored(text))) continue;
        chunk +=
          options.format === 'csv'
            ? `${itemCsvRow(JSON.parse(text) as BatchItem, hasVantages)}\n`
            : `${text}\n`;
      }
      if (chunk !== '') await write(chunk);
      if (page.length === resultPageSize) continue;
      if (!options.isFollowing || options.closing.aborted) break;
      const now = await store.read(batch.id);
      if (!now || (now.done >= now.total && offset >= now.done)) break;
      await pause(followIntervalMs, left.signal, options.closing);
    }
  } catch (error) {
    // Nothing written yet: an ordinary problem answer. Part written: the stream is cut, not ended, so the client
    // sees it incomplete and can resume with ?offset=.
    if (!hasWritten)
      throw new HttpProblem(503, 'unavailable', 'the batch store (Redis) is unavailable; try again shortly', {
        retryAfterSeconds: 2,
      });
    response.destroy(error instanceof Error ? error : new Error(String(error)));
    return;
  }
  if (!hasWritten) await write('');
  response.end();
}

/**
 * An item's cause without parsing its report: the stored JSON starts with index, url, status and cause, and a
 * quote inside the URL is escaped, so the first `,"cause":"` is the item's.
 */
export function causeOfStored(text: string): ItemCause {
  const match = /,"cause":"([a-z_]+)"/.exec(text);
  return (match?.[1] ?? (JSON.parse(text) as BatchItem).cause) as ItemCause;
}

function drained(response: Response, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    response.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

function pause(ms: number, ...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      for (const signal of signals) signal.removeEventListener('abort', done);
      resolve();
    }
    for (const signal of signals) signal.addEventListener('abort', done, { once: true });
  });
}
