// Reads a batch's list of URLs: one URL a line, or CSV with a `url` column; streamed, never held whole.
import { createReadStream } from 'node:fs';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { InputError, parseTargetUrl } from '../engine.js';

/** One line of the list, once read: a URL to probe, a bad line to report, or nothing (blank, comment, header). */
export type ListEntry =
  | { kind: 'url'; url: string; lineNumber: number }
  | { kind: 'bad'; lineNumber: number; reason: string };

/** How the lines are read: plain URLs, or CSV cells with the URL in column `urlColumn`. */
export type ListFormat = { kind: 'lines' } | { kind: 'csv'; urlColumn: number };

/** Splits one CSV line into cells (RFC 4180 quoting; a quoted cell cannot span lines here). */
export function parseCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let isQuoted = false;
  for (let index = 0; index < line.length; index++) {
    const character = line[index];
    if (isQuoted) {
      if (character === '"' && line[index + 1] === '"') {
        cell += '"';
        index++;
      } else if (character === '"') isQuoted = false;
      else cell += character;
    } else if (character === '"') isQuoted = true;
    else if (character === ',') {
      cells.push(cell);
      cell = '';
    } else cell += character;
  }
  cells.push(cell);
  return cells;
}

/** The format a list's first meaningful line announces: a CSV header when one of its cells is `url`. */
export function detectFormat(firstLine: string): ListFormat {
  const urlColumn = parseCsvLine(firstLine).findIndex((cell) => cell.trim().toLowerCase() === 'url');
  return urlColumn >= 0 ? { kind: 'csv', urlColumn } : { kind: 'lines' };
}

/** Blank lines and `#` comments carry nothing. */
export function isSkippedLine(line: string): boolean {
  const trimmed = line.trim();
  return trimmed === '' || trimmed.startsWith('#');
}

/** One meaningful line (not blank, not a comment, not the header) read in the list's format. */
export function entryOf(line: string, lineNumber: number, format: ListFormat): ListEntry {
  const text =
    format.kind === 'csv'
      ? (parseCsvLine(line)[format.urlColumn] ?? '').trim()
      : line.trim().replace(/^\uFEFF/, '');
  if (text === '') return { kind: 'bad', lineNumber, reason: 'no url in this line' };
  try {
    return { kind: 'url', url: parseTargetUrl(text).href, lineNumber };
  } catch (error) {
    if (error instanceof InputError) return { kind: 'bad', lineNumber, reason: error.message };
    throw error;
  }
}

/** Reads a list from a stream line by line, yielding its entries in order. */
export async function* readEntries(input: Readable, signal?: AbortSignal): AsyncGenerator<ListEntry> {
  const lines = readline.createInterface({
    input,
    crlfDelay: Number.POSITIVE_INFINITY,
    ...(signal ? { signal } : {}),
  });
  let format: ListFormat | undefined;
  let lineNumber = 0;
  try {
    for await (const rawLine of lines) {
      lineNumber++;
      const line = lineNumber === 1 ? rawLine.replace(/^\uFEFF/, '') : rawLine;
      if (isSkippedLine(line)) continue;
      if (format === undefined) {
        format = detectFormat(line);
        if (format.kind === 'csv') continue;
      }
      yield entryOf(line, lineNumber, format);
    }
  } catch (error) {
    // Stopped on purpose: the list simply ends here.
    if (!signal?.aborted) throw error;
  } finally {
    lines.close();
  }
}

/** A list named on the command line: a file's path, or `-` for standard input. */
export function openList(path: string): Readable {
  return path === '-' ? process.stdin : createReadStream(path);
}

/** Counts a file's URLs and finds its first bad line, in one streamed pass (for the progress total and --strict). */
export async function surveyList(path: string): Promise<{ urlCount: number; firstBad?: ListEntry }> {
  let urlCount = 0;
  let firstBad: ListEntry | undefined;
  for await (const entry of readEntries(createReadStream(path))) {
    if (entry.kind === 'url') urlCount++;
    else firstBad ??= entry;
  }
  return firstBad ? { urlCount, firstBad } : { urlCount };
}
