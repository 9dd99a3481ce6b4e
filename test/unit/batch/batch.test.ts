import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  detectFormat,
  entryOf,
  isSkippedLine,
  linesOf,
  maxLineChars,
  overlongLine,
  parseCsvLine,
  readEntries,
} from '../../../src/batch/input.js';
import { BatchTally, csvCell, LineWriter, renderSummary } from '../../../src/batch/output.js';
import { formatProgress } from '../../../src/batch/progress.js';
import type { Report } from '../../../src/types.js';

function reportOf(url: string, cause: string, code: string, summary = `${code} happened`): Report {
  return {
    url,
    verdict: { cause, code, summary, confidence: 0.9, evidence: [], rule: 'test' },
  } as unknown as Report;
}

async function entriesOf(text: string) {
  const entries = [];
  for await (const entry of readEntries(Readable.from([text]))) entries.push(entry);
  return entries;
}

describe('reading a batch list', () => {
  it('skips blank lines and # comments', () => {
    expect(isSkippedLine('   ')).toBe(true);
    expect(isSkippedLine('  # note')).toBe(true);
    expect(isSkippedLine('http://a.example/')).toBe(false);
  });

  it('splits CSV cells with quoted commas and doubled quotes', () => {
    expect(parseCsvLine('a,"b, c","say ""hi""",')).toEqual(['a', 'b, c', 'say "hi"', '']);
  });

  it('takes a line with a url cell for a CSV header, and anything else for a plain list', () => {
    expect(detectFormat('name, URL ,owner')).toEqual({ kind: 'csv', urlColumn: 1 });
    expect(detectFormat('http://a.example/')).toEqual({ kind: 'lines' });
  });

  it('reads a URL, and names what is wrong with a line that is not an http(s) URL', () => {
    expect(entryOf(' http://a.example ', 3, { kind: 'lines' })).toEqual({
      kind: 'url',
      url: 'http://a.example/',
      lineNumber: 3,
    });
    expect(entryOf('ftp://a.example/', 4, { kind: 'lines' })).toEqual({
      kind: 'bad',
      lineNumber: 4,
      reason: 'url must use http or https, not ftp',
    });
    expect(entryOf('x,', 5, { kind: 'csv', urlColumn: 1 })).toMatchObject({ kind: 'bad', lineNumber: 5 });
  });

  it('numbers entries by their line in the file, counting comments, blanks and the header', async () => {
    const entries = await entriesOf('# list\nname,url\n\na,http://a.example/\nb,nope\r\n');
    expect(entries).toEqual([
      { kind: 'url', url: 'http://a.example/', lineNumber: 4 },
      { kind: 'bad', lineNumber: 5, reason: 'url is not a valid URL: "nope"' },
    ]);
  });
});

describe('splitting a list into lines', () => {
  async function linesFrom(chunks: Array<string | Buffer>, maxChars?: number) {
    const lines = [];
    for await (const line of linesOf(Readable.from(chunks, { objectMode: false }), maxChars))
      lines.push(line);
    return lines;
  }

  it('splits at LF, CRLF and a lone CR, and keeps a last line without a break', async () => {
    expect(await linesFrom(['a\nb\r\nc\rd'])).toEqual(['a', 'b', 'c', 'd']);
    expect(await linesFrom(['a\n\n'])).toEqual(['a', '']);
  });

  it('takes a CRLF split between two chunks for one break', async () => {
    expect(await linesFrom(['a\r', '\nb\r', 'c'])).toEqual(['a', 'b', 'c']);
  });

  it('decodes a character whose UTF-8 bytes are split between chunks', async () => {
    const bytes = Buffer.from('http://ex\u00e4mple.test/\n');
    const at = bytes.indexOf(0xc3) + 1;
    expect(await linesFrom([bytes.subarray(0, at), bytes.subarray(at)])).toEqual([
      'http://ex\u00e4mple.test/',
    ]);
  });

  it('yields a line past the limit as overlong, across chunks, and reads the next line whole', async () => {
    expect(await linesFrom(['12345', '678\nok\n123456789'], 8)).toEqual(['12345678', 'ok', overlongLine]);
    expect(await linesFrom(['1234', '5678', '9', '\r', '\nok'], 8)).toEqual([overlongLine, 'ok']);
  });

  it('reports a list line past the limit as a bad line by its number and goes on', async () => {
    const entries = await entriesOf(
      `http://a.example/\n${'x'.repeat(maxLineChars + 1)}\nhttp://b.example/\n`,
    );
    expect(entries).toEqual([
      { kind: 'url', url: 'http://a.example/', lineNumber: 1 },
      { kind: 'bad', lineNumber: 2, reason: `line longer than ${maxLineChars} characters` },
      { kind: 'url', url: 'http://b.example/', lineNumber: 3 },
    ]);
  });
});

describe('batch output', () => {
  it('quotes CSV cells holding commas, quotes, line breaks or edge spaces, and only those', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a, b')).toBe('"a, b"');
    expect(csvCell('say "no"')).toBe('"say ""no"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell(' padded')).toBe('" padded"');
    expect(csvCell(12)).toBe('12');
    expect(csvCell(undefined)).toBe('');
  });

  it('renders the counts by cause and code, most frequent first, then the non-ok URLs', () => {
    const tally = new BatchTally();
    tally.add(reportOf('http://a/', 'ok', 'http.ok'));
    tally.add(reportOf('http://b/', 'server_fault', 'tcp.refused', 'refused'));
    tally.add(reportOf('http://c/', 'server_fault', 'tcp.refused', 'refused'));
    const lines = renderSummary(tally).split('\n');
    expect(lines[0]).toMatch(/^cause\s+code\s+count$/);
    expect(lines[1]).toMatch(/^server_fault\s+tcp\.refused\s+2$/);
    expect(lines[2]).toMatch(/^ok\s+http\.ok\s+1$/);
    expect(lines).toContain('3 URLs probed');
    expect(lines.slice(-3)).toEqual(['not ok:', 'http://b/  refused', 'http://c/  refused']);
    expect(tally.isAllOk).toBe(false);
  });

  it('keeps at most its limit of non-ok URLs and says how many more there were', () => {
    const tally = new BatchTally(1);
    tally.add(reportOf('http://b/', 'server_fault', 'tcp.reset'));
    tally.add(reportOf('http://c/', 'server_fault', 'tcp.reset'));
    expect(tally.problems).toHaveLength(1);
    expect(renderSummary(tally)).toMatch(/… and 1 more \(--json or --csv lists every URL\)$/);
  });

  it('says a summary is partial when the batch was interrupted', () => {
    expect(renderSummary(new BatchTally(), { abortedCount: 3 })).toMatch(
      /^interrupted: 3 probes in flight were aborted/m,
    );
  });

  it('is all ok only when every URL was ok and no line was skipped', () => {
    const tally = new BatchTally();
    tally.add(reportOf('http://a/', 'ok', 'http.ok'));
    expect(tally.isAllOk).toBe(true);
    tally.skippedLines++;
    expect(tally.isAllOk).toBe(false);
  });

  it('shows done/total, the rate, the time left and the counts by cause on the progress line', () => {
    const tally = new BatchTally();
    tally.add(reportOf('http://a/', 'ok', 'http.ok'));
    tally.add(reportOf('http://b/', 'ok', 'http.ok'));
    tally.add(reportOf('http://c/', 'server_fault', 'tcp.reset'));
    expect(formatProgress(tally, 9, 1000)).toBe('3/9 · 3.0/s · ETA 2s · ok 2 · server_fault 1');
    expect(formatProgress(tally, undefined, 1000)).toBe('3 done · 3.0/s · ok 2 · server_fault 1');
  });

  it('gathers the lines written in one turn of the event loop into one write, in order', async () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    });
    const writer = new LineWriter(stream);
    await Promise.all([writer.write('one'), writer.write('two'), writer.write('three')]);
    await writer.write('four');
    expect(chunks).toEqual(['one\ntwo\nthree\n', 'four\n']);
  });

  it('hands a stream with writev the lines of one turn in one call, in order, without joining them', async () => {
    const calls: string[][] = [];
    const stream = new Writable({
      decodeStrings: false,
      write(chunk, _encoding, done) {
        calls.push([String(chunk)]);
        done();
      },
      writev(chunks, done) {
        calls.push(chunks.map(({ chunk }) => String(chunk)));
        done();
      },
    });
    const writer = new LineWriter(stream);
    await Promise.all([writer.write('one'), writer.write('two → three'), writer.write('four')]);
    await writer.write('five');
    expect(calls.map((call) => call.join(''))).toEqual(['one\ntwo → three\nfour\n', 'five\n']);
    expect(calls[0]).toContain('two → three');
  });

  it.each([
    ['without', false],
    ['with', true],
  ])('holds writers back until a full stream %s writev drains', async (_name, hasWritev) => {
    const callbacks: (() => void)[] = [];
    const stream = new Writable({
      highWaterMark: 4,
      write(_chunk, _encoding, done) {
        callbacks.push(done);
      },
      ...(hasWritev
        ? {
            writev(_chunks: unknown[], done: () => void) {
              callbacks.push(done);
            },
          }
        : {}),
    });
    const writer = new LineWriter(stream);
    let isWritten = false;
    const written = writer.write('longer than four bytes').then(() => {
      isWritten = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(callbacks).toHaveLength(1);
    expect(isWritten).toBe(false);
    callbacks[0]?.();
    await written;
    expect(isWritten).toBe(true);
  });
});
