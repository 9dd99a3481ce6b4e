// The final request again on a raw socket we read ourselves, listening on after the answer is complete: an
// on-path injector's forged page arrives first, and the server's own answer after it on the same connection.
import type net from 'node:net';
import type { ReplayObservation } from '../types.js';
import { userAgent } from './http.js';
import { connectOnce } from './tcp.js';
import { elapsedSince, errnoOf } from './util.js';

export interface ReplayOptions {
  address: string;
  port: number;
  hostHeader: string;
  path: string;
  /** How long to listen after the request went out, at most (bounded by the caller's deadline). */
  listenMs: number;
  /**
   * How long to listen on after the peer's FIN: a forged page that carried a FIN is followed by the server's
   * data about one round trip later. A server that keeps the connection open is heard for `listenMs`.
   */
  afterFinMs: number;
  /** Bytes kept to find where the first answer ends; the connection is dropped past this. */
  maxBytes: number;
  signal: AbortSignal;
  isAddressAllowed?: (address: string) => string | undefined;
}

/** Where the first answer in the bytes ends, once its framing says so. */
type Framing =
  | { kind: 'complete'; status: number; headerNames: string[]; length: number }
  | { kind: 'until_close'; status: number; headerNames: string[] }
  | { kind: 'incomplete' }
  | { kind: 'invalid' };

const headerEnd = Buffer.from('\r\n\r\n');

/** Reads the status line and headers, then the body's framing (Content-Length or chunked). */
export function framingOf(bytes: Buffer): Framing {
  const end = bytes.indexOf(headerEnd);
  if (end < 0) return bytes.length > 64 * 1024 ? { kind: 'invalid' } : { kind: 'incomplete' };
  const lines = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1];
  if (status === undefined) return { kind: 'invalid' };
  const headers = lines.slice(1).map((line) => {
    const colon = line.indexOf(':');
    return { name: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() };
  });
  const headerNames = headers.map((header) => header.name);
  const value = (name: string) => headers.find((header) => header.name === name)?.value;
  const bodyStart = end + headerEnd.length;
  const code = Number(status);
  if (code === 204 || code === 304 || (code >= 100 && code < 200)) {
    return { kind: 'complete', status: code, headerNames, length: bodyStart };
  }
  if (/\bchunked\b/i.test(value('transfer-encoding') ?? '')) {
    const length = chunkedEnd(bytes, bodyStart);
    return length === undefined
      ? { kind: 'incomplete' }
      : { kind: 'complete', status: code, headerNames, length };
  }
  const contentLength = value('content-length');
  if (contentLength !== undefined && /^\d+$/.test(contentLength)) {
    const length = bodyStart + Number(contentLength);
    return bytes.length >= length
      ? { kind: 'complete', status: code, headerNames, length }
      : { kind: 'incomplete' };
  }
  return { kind: 'until_close', status: code, headerNames };
}

/** The offset just past a chunked body's last chunk and trailers, or undefined while it is incomplete. */
function chunkedEnd(bytes: Buffer, start: number): number | undefined {
  let offset = start;
  // Bounded: each pass consumes at least one line of the kept bytes.
  while (offset < bytes.length) {
    const lineEnd = bytes.indexOf('\r\n', offset, 'latin1');
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(bytes.subarray(offset, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) return undefined;
    if (size === 0) {
      const trailersEnd = bytes.indexOf(headerEnd, lineEnd, 'latin1');
      if (bytes.subarray(lineEnd, lineEnd + 4).toString('latin1') === '\r\n\r\n') return lineEnd + 4;
      return trailersEnd < 0 ? undefined : trailersEnd + 4;
    }
    offset = lineEnd + 2 + size + 2;
  }
  return undefined;
}

/** The same GET as the HTTP probe sends, asking the server to close when done. */
function requestText(options: ReplayOptions): string {
  return `GET ${options.path} HTTP/1.1\r\nHost: ${options.hostHeader}\r\nuser-agent: ${userAgent}\r\naccept: */*\r\nconnection: close\r\n\r\n`;
}

/**
 * Sends the request once and listens until `afterFinMs` after the peer's FIN, or `listenMs` at most, whatever
 * the peer does, then reads what came.
 */
export async function replayRequest(options: ReplayOptions): Promise<ReplayObservation> {
  const base = {
    address: options.address,
    port: options.port,
    hostHeader: options.hostHeader,
    path: options.path,
    bytesAfterResponse: 0,
    isResetAfterFin: false,
  };
  const connected = await connectOnce(options.address, {
    port: options.port,
    timeoutMs: options.listenMs,
    signal: options.signal,
    isAddressAllowed: options.isAddressAllowed,
  });
  if (connected.outcome.kind !== 'connected' || !connected.socket) {
    const errno = connected.outcome.kind === 'connected' ? undefined : connected.outcome.errno;
    return { ...base, outcome: 'connect_failed', listenedMs: 0, ...(errno ? { errno } : {}) };
  }
  const connectMs = connected.outcome.connectMs;
  const heard = await listen(connected.socket, options);
  const framing = framingOf(heard.bytes);
  const observed = {
    ...base,
    connectMs,
    listenedMs: heard.listenedMs,
    isResetAfterFin: heard.hasFin && heard.errno !== undefined,
    ...(heard.firstByteMs !== undefined ? { firstByteMs: heard.firstByteMs } : {}),
    ...(heard.errno ? { errno: heard.errno } : {}),
  };
  if (framing.kind === 'complete' || framing.kind === 'until_close') {
    const length = framing.kind === 'complete' ? framing.length : heard.totalBytes;
    const after = heard.totalBytes - length;
    return {
      ...observed,
      outcome: 'response',
      status: framing.status,
      headerNames: framing.headerNames,
      responseBytes: length,
      bytesAfterResponse: after,
      ...(after > 0
        ? {
            afterResponsePrefix: printable(heard.bytes.subarray(length, length + 120)),
            afterResponseMs: heard.afterMs(length),
          }
        : {}),
    };
  }
  if (heard.totalBytes > 0) return { ...observed, outcome: 'incomplete' };
  if (heard.errno === 'ECONNRESET') return { ...observed, outcome: 'reset' };
  return { ...observed, outcome: heard.errno ? 'error' : 'timeout' };
}

function printable(bytes: Buffer): string {
  return bytes.toString('latin1').replace(/[^\x20-\x7e]/g, '.');
}

/** Writes the request, keeps every byte with its arrival time, and ends as `replayRequest` says, or on an error. */
function listen(socket: net.Socket, options: ReplayOptions) {
  // Stay open after the peer's FIN: data that comes after it (a forged page's FIN, then the real answer) makes
  // the kernel reset the connection, which only a socket still open hears about.
  socket.allowHalfOpen = true;
  const started = performance.now();
  const chunks: Buffer[] = [];
  const arrivals: { endOffset: number; atMs: number }[] = [];
  let totalBytes = 0;
  let keptBytes = 0;
  let hasFin = false;
  let errno: string | undefined;
  let firstByteMs: number | undefined;
  return new Promise<{
    bytes: Buffer;
    totalBytes: number;
    hasFin: boolean;
    errno?: string;
    firstByteMs?: number;
    listenedMs: number;
    afterMs: (offset: number) => number | undefined;
  }>((resolve) => {
    let isDone = false;
    const finish = () => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', finish);
      socket.destroy();
      const bytes = Buffer.concat(chunks);
      resolve({
        bytes,
        totalBytes,
        hasFin,
        ...(errno ? { errno } : {}),
        ...(firstByteMs !== undefined ? { firstByteMs } : {}),
        listenedMs: elapsedSince(started),
        // How long after the chunk that completed the first answer the next byte came.
        afterMs: (offset) => {
          const completing = arrivals.find((arrival) => arrival.endOffset >= offset);
          const next = arrivals.find((arrival) => arrival.endOffset > offset);
          // Both in one read: the kernel had them together, and there is no gap to tell.
          if (!completing || !next || completing === next) return undefined;
          return Math.round((next.atMs - completing.atMs) * 100) / 100;
        },
      });
    };
    // The window is when bytes arrive, not when this process gets to read them: a stalled event loop (a busy worker)
    // runs an expired window's timer before the poll that reads what came in time, so the end waits for that poll.
    const finishAfterReads = () => setImmediate(finish);
    const timer = setTimeout(finishAfterReads, options.listenMs);
    options.signal.addEventListener('abort', finish, { once: true });
    socket.on('data', (chunk: Buffer) => {
      firstByteMs ??= elapsedSince(started);
      totalBytes += chunk.length;
      arrivals.push({ endOffset: totalBytes, atMs: performance.now() });
      if (keptBytes < options.maxBytes) {
        chunks.push(chunk);
        keptBytes += chunk.length;
      } else {
        finish(); // a page this large is not a forged one; what matters was kept
      }
    });
    socket.on('end', () => {
      hasFin = true;
      const settle = setTimeout(finishAfterReads, options.afterFinMs);
      socket.once('close', () => clearTimeout(settle));
    });
    socket.on('error', (error) => {
      errno = errnoOf(error);
      finish();
    });
    socket.write(requestText(options));
  });
}
