// Reads a batch's list of URLs: one URL a line, or CSV with a `url` column; streamed, never held whole.
import { createReadStream } from 'node:fs';
import { addAbortSignal, type Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { InputError, parseTargetUrl } from '../engine.js';

/** One line of the list, once read: a URL to probe, a bad line to report, or nothing (blank, comment, header). */
export type ListEntry =
  | { kind: 'url'; url: string; lineNumber: number }
  | { kind: 'bad'; lineNumber: number; reason: string };

/**
 * The longest line read whole. A URL is at most 2,048 characters (the API's limit) and a CSV row holding one a
 * little more; a longer line is a bad line, skipped without being held, so a file with no line break (a binary or a
 * dump sent by mistake) cannot exhaust memory: reading 300 MB of one line ran 112 s and died at a 4 GB heap.
 */
export const maxLineChars = 64 * 1024;

/** What the line reader yields for a line past `maxLineChars`, in place of its text. */
export const overlongLine = Symbol('overlong line');

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

/**
 * The lines of a stream, split at LF, CRLF or a lone CR (as readline does), decoded as UTF-8; a line longer than
 * `maxChars` is yielded as `overlongLine`, its text dropped as it arrives.
 */
export async function* linesOf(
  input: Readable,
  maxChars = maxLineChars,
): AsyncGenerator<string | typeof overlongLine> {
  const decoder = new StringDecoder('utf8');
  const lineBreak = /\r\n?|\n/g;
  let line = '';
  let isOverlong = false;
  // A CR that ended the last chunk: an LF opening the next one belongs to it.
  let isAfterCr = false;
  const take = (piece: string) => {
    if (isOverlong) return;
    if (line.length + piece.length > maxChars) {
      isOverlong = true;
      line = '';
    } else line += piece;
  };
  const end = () => {
    const ended = isOverlong ? overlongLine : line;
    line = '';
    isOverlong = false;
    return ended;
  };
  for await (const chunk of input) {
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer);
    if (isAfterCr && text.startsWith('\n')) text = text.slice(1);
    isAfterCr = false;
    let start = 0;
    lineBreak.lastIndex = 0;
    for (let found = lineBreak.exec(text); found !== null; found = lineBreak.exec(text)) {
      take(text.slice(start, found.index));
      yield end();
      start = lineBreak.lastIndex;
      isAfterCr = found[0] === '\r' && start === text.length;
    }
    take(text.slice(start));
  }
  take(decoder.end());
  if (line !== '' || isOverlong) yield end();
}

/** Reads a list from a stream line by line, yielding its entries in order. */
export async function* readEntries(input: Readable, signal?: AbortSignal): AsyncGenerator<ListEntry> {
  // Stopping destroys the input, so a read waiting on a terminal or a pipe ends at once.
  if (signal) addAbortSignal(signal, input);
  let format: ListFormat | undefined;
  let lineNumber = 0;
  try {
    for await (const read of linesOf(input)) {
      lineNumber++;
      if (read === overlongLine) {
        yield { kind: 'bad', lineNumber, reason: `line longer than ${maxLineChars} characters` };
        continue;
      }
      const line = lineNumber === 1 ? read.replace(/^\uFEFF/, '') : read;
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
    if (!input.destroyed) input.destroy();
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
