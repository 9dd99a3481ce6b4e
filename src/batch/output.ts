// Writes a batch's results: NDJSON or CSV as each report finishes, or a summary by cause and code at the end.
import type { Writable } from 'node:stream';
import type { Report } from '../types.js';

/**
 * Writes lines to a stream, those written in one turn of the event loop gathered into one write (a report per
 * write cost a system call each, a tenth of a batch's CPU). A writer's promise settles once its line is handed to
 * the stream, and only after `drain` when the stream was full, so output cannot pile up in memory.
 */
export class LineWriter {
  #pending: string[] = [];
  #flushed: Promise<void> | undefined;
  /**
   * A stream that writes a corked turn's chunks in one call (a socket or pipe: one writev) takes the lines as they
   * are; joining them first copied each turn's text once more on the heap, as two-byte text whenever one line held
   * a character past Latin-1 (a redirect's `→`), and that copy was about 15 % of a batch's allocation. A stream
   * without writev (standard output to a file) would pay a system call per line, so it gets the joined text.
   */
  readonly #isVectored: boolean;

  constructor(private readonly stream: Writable) {
    this.#isVectored = typeof stream._writev === 'function';
  }

  write(line: string): Promise<void> {
    this.#pending.push(line);
    this.#flushed ??= new Promise((resolve) => setImmediate(() => this.#flush(resolve)));
    return this.#flushed;
  }

  #flush(resolve: () => void): void {
    const lines = this.#pending;
    this.#pending = [];
    this.#flushed = undefined;
    const stream = this.stream;
    if (!this.#isVectored) {
      whenWritten(stream, stream.write(`${lines.join('\n')}\n`), resolve);
      return;
    }
    let hasRoom = true;
    stream.cork();
    for (const line of lines) {
      stream.write(line);
      hasRoom = stream.write('\n');
    }
    stream.uncork();
    whenWritten(stream, hasRoom, resolve);
  }
}

export type OutputFormat = 'json' | 'csv' | 'summary';

/** What a batch keeps of a report: its verdict, to count, and its line to print (none for the summary). */
export interface BatchResult {
  url: string;
  verdict: { cause: string; code: string; summary: string };
  line?: string;
}

/** Made where the report was (a probing thread), so only this small record crosses to the writer. */
export function batchResultOf(report: Report, format: OutputFormat): BatchResult {
  const { cause, code, summary } = report.verdict;
  const result: BatchResult = { url: report.url, verdict: { cause, code, summary } };
  if (format === 'json') result.line = JSON.stringify(report);
  else if (format === 'csv') result.line = csvRow(report);
  return result;
}

/** Writes a line and waits for the stream to drain when its buffer is full, so output cannot pile up. */
export function writeLine(stream: Writable, line: string): Promise<void> {
  return new Promise((resolve) => whenWritten(stream, stream.write(`${line}\n`), resolve));
}

/**
 * Calls `resolve` once a write is done with: at once when the buffer had room, on `drain` otherwise, or when the
 * stream has failed or closes (a reader that closed the pipe: nothing will drain it, and the run stops on the
 * stream's error, not here). Standard output's `write` answers false and `writable` false on EPIPE.
 */
function whenWritten(stream: Writable, hasRoom: boolean, resolve: () => void): void {
  if (hasRoom || !stream.writable) {
    resolve();
    return;
  }
  const done = () => {
    stream.off('drain', done);
    stream.off('close', done);
    resolve();
  };
  stream.on('drain', done);
  stream.on('close', done);
}

/** Quotes a CSV cell when it holds a comma, a quote, a line break or edge spaces (RFC 4180). */
export function csvCell(value: string | number | undefined): string {
  if (value === undefined) return '';
  const text = String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const csvHeader = 'url,cause,code,confidence,summary,dns_ms,connect_ms,tls_ms,first_byte_ms,total_ms';

/** The time each phase took, where the probe got that far. */
export function phaseTimesOf(report: Report): {
  dnsMs?: number;
  connectMs?: number;
  tlsMs?: number;
  firstByteMs?: number;
  totalMs: number;
} {
  const { target } = report;
  const timings = target.http?.hops[0]?.exchange.timings;
  const dnsLatencies = target.dns?.resolvers.flatMap((resolver) => resolver.queries.map((q) => q.latencyMs));
  const connected = target.tcp.find((outcome) => outcome.kind === 'connected');
  return {
    dnsMs: timings?.dnsMs ?? (dnsLatencies?.length ? Math.max(...dnsLatencies) : undefined),
    connectMs: timings?.connectMs ?? (connected?.kind === 'connected' ? connected.connectMs : undefined),
    tlsMs: timings?.tlsMs ?? target.tls?.handshakeMs,
    firstByteMs: timings?.firstByteMs,
    totalMs: report.durationMs,
  };
}

export function csvRow(report: Report): string {
  const times = phaseTimesOf(report);
  const { verdict } = report;
  return [
    report.url,
    verdict.cause,
    verdict.code,
    verdict.confidence.toFixed(2),
    verdict.summary,
    times.dnsMs,
    times.connectMs,
    times.tlsMs,
    times.firstByteMs,
    times.totalMs,
  ]
    .map(csvCell)
    .join(',');
}

/** Counts of a batch so far, by cause and by cause and code; the non-ok URLs kept up to a limit. */
export class BatchTally {
  readonly byCause = new Map<string, number>();
  readonly byCauseAndCode = new Map<string, number>();
  readonly problems: { url: string; line: string }[] = [];
  problemsNotKept = 0;
  done = 0;
  skippedLines = 0;

  /** Keeps at most this many non-ok URLs for the end, so memory does not grow with the list. */
  constructor(readonly maxProblemsKept = 10_000) {}

  /** A report, or anything with a URL and a verdict's cause, code and summary (a service batch's item). */
  add(report: { url: string; verdict: { cause: string; code: string; summary: string } }): void {
    const { cause, code, summary } = report.verdict;
    this.done++;
    this.byCause.set(cause, (this.byCause.get(cause) ?? 0) + 1);
    const key = `${cause}\t${code}`;
    this.byCauseAndCode.set(key, (this.byCauseAndCode.get(key) ?? 0) + 1);
    if (cause === 'ok') return;
    if (this.problems.length < this.maxProblemsKept) this.problems.push({ url: report.url, line: summary });
    else this.problemsNotKept++;
  }

  get isAllOk(): boolean {
    return this.skippedLines === 0 && this.done === (this.byCause.get('ok') ?? 0);
  }
}

/** The table by cause and code (most frequent first), then the non-ok URLs with their one-line summaries. */
/** How a run was interrupted: probes of its own aborted, or (a batch on a service) a line saying what became of it. */
export type Interruption = { abortedCount: number } | { line: string };

export function renderSummary(tally: BatchTally, interruption?: Interruption): string {
  const rows = [...tally.byCauseAndCode.entries()]
    .map(([key, count]) => {
      const [cause, code] = key.split('\t') as [string, string];
      return { cause, code, count };
    })
    .sort((a, b) => b.count - a.count || a.cause.localeCompare(b.cause) || a.code.localeCompare(b.code));
  const causeWidth = Math.max(5, ...rows.map((row) => row.cause.length));
  const codeWidth = Math.max(4, ...rows.map((row) => row.code.length));
  const lines = [`${'cause'.padEnd(causeWidth)}  ${'code'.padEnd(codeWidth)}  count`];
  for (const row of rows)
    lines.push(`${row.cause.padEnd(causeWidth)}  ${row.code.padEnd(codeWidth)}  ${row.count}`);
  const skipped = tally.skippedLines > 0 ? `, ${tally.skippedLines} lines skipped` : '';
  lines.push(`${tally.done} URLs probed${skipped}`);
  if (interruption && 'line' in interruption) lines.push(interruption.line);
  else if (interruption)
    lines.push(
      `interrupted: ${interruption.abortedCount} probes in flight were aborted, the rest of the list not read`,
    );
  if (tally.problems.length > 0) {
    lines.push('', 'not ok:');
    for (const problem of tally.problems) lines.push(`${problem.url}  ${problem.line}`);
    if (tally.problemsNotKept > 0)
      lines.push(`… and ${tally.problemsNotKept} more (--json or --csv lists every URL)`);
  }
  return lines.join('\n');
}
