// HTTP probe: one exchange over undici pinned to a chosen address (Host and SNI kept), and how it ended.
import { createRequire } from 'node:module';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import type tls from 'node:tls';
import type { HttpExchange, HttpOutcomeKind, TlsObservation } from '../types.js';
import { connectOnce } from './tcp.js';
import { type ConnectionEnds, unacknowledgedBytesOf } from './tcp-queue.js';
import { handshakeTls } from './tls.js';
import { elapsedSince, errnoOf, messageOf } from './util.js';

// CommonJS, loaded with require rather than import: no export lexing at start-up (docs/architecture.md).
const { Client, errors: undiciErrors } = createRequire(import.meta.url)('undici') as typeof import('undici');

export const userAgent = 'reach/0.1 (+https://github.com/reach-diagnostics/reach)';

export interface ExchangeOptions {
  scheme: 'http' | 'https';
  address: string;
  port: number;
  /** The Host header (and the name in the origin). */
  hostHeader: string;
  /** The SNI for https; null sends none. */
  servername: string | null;
  path: string;
  /** GET by default; HEAD asks for a small answer (the differential's size probe). */
  method?: 'GET' | 'HEAD';
  /** Called when the status line and headers have arrived. */
  onResponseStart?: () => void;
  /** A socket already connected (and, for https, already through the handshake) to reuse. */
  socket?: net.Socket | tls.TLSSocket;
  /** Connect and TLS timings of that socket, reported with the exchange. */
  socketTimings?: { connectMs?: number; tlsMs?: number };
  /**
   * A connection an earlier exchange to the same origin left open (keptConnectionOf): the request goes on it, as a
   * browser's would, unless it has closed since.
   */
  connection?: KeptConnection;
  /**
   * Leave the connection open after a complete redirect answer, for the next hop to the same origin; the caller
   * takes it with keptConnectionOf and closes it.
   */
  isConnectionKept?: boolean;
  /** How long resolving this hop's name took, reported with the exchange. */
  dnsMs?: number;
  ca?: string[];
  /** Deadline for the whole exchange: connect, headers and body. */
  timeoutMs: number;
  maxBodyBytes: number;
  /**
   * Keep the body as read (up to maxBodyBytes) for content checks, readable with capturedBodyOf; only the
   * target's own hops ask for it, and only when a check reads the body.
   */
  isBodyKept?: boolean;
  signal: AbortSignal;
  isAddressAllowed?: (address: string) => string | undefined;
  /** performance.now() at the start of the whole probe, for `startedAtMs`. */
  probeStartedMs: number;
}

interface SocketFacts {
  socket?: net.Socket;
  /** The connector ran for this exchange: the connection is its own, not one kept from the hop before. */
  isConnectedHere?: boolean;
  /** Sent on a connection kept from the exchange before: that connection's connect time. */
  keptConnection?: { connectMs?: number };
  bytesWrittenBefore: number;
  bytesReadBefore: number;
  hasPeerFin: boolean;
  /** Both ends of the connection, kept while it is open: a destroyed socket forgets its local port. */
  ends?: ConnectionEnds;
  socketErrno?: string;
  connectMs?: number;
  tlsMs?: number;
  /** The handshake of a connection this exchange opened itself (a redirect hop's), when it completed. */
  tls?: TlsObservation;
  readyAtMs?: number;
  connectFailure?: {
    outcome: HttpOutcomeKind;
    errno?: string;
    message: string;
    tlsHandshake?: HttpExchange['tlsHandshake'];
  };
}

class ConnectPhaseError extends Error {}

const exchangeFinished = new Error('reach: exchange finished');

function originOf(scheme: string, host: string, port: number): string {
  // A name never holds a colon; an IPv6 literal always does (and is bracketed in a URL's authority).
  const literal = host.includes(':') ? `[${host}]` : host;
  return `${scheme}://${literal}:${port}`;
}

/** The statuses a redirect hop follows (redirects.ts), and after which a connection may be kept for it. */
export const redirectStatuses: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** One GET with no automatic redirects. Never throws for the target's failure. */
export async function exchange(options: ExchangeOptions): Promise<HttpExchange> {
  const started = performance.now();
  const facts: SocketFacts = { hasPeerFin: false, bytesWrittenBefore: 0, bytesReadBefore: 0 };
  // The probe's signal carries the overall deadline; this exchange's own share is enforced by undici's
  // headers and body timeouts and by the connect timeout, which cost less than a combined signal.
  const deadline = options.signal;
  const remaining = () => Math.max(1, Math.round(options.timeoutMs - (performance.now() - started)));

  const kept =
    options.connection instanceof Connection ? options.connection.adopt(options, facts) : undefined;
  let connection: Connection;
  try {
    connection = kept ?? new Connection(options, facts);
  } catch (error) {
    options.socket?.destroy();
    throw error;
  }
  const client = connection.client;
  const result = resultBuilder(options, facts, started);

  let firstByteMs: number | undefined;
  let isSettled = false;
  let isKept = false;
  try {
    const response = await client.request({
      method: options.method ?? 'GET',
      path: options.path,
      headers: { 'user-agent': userAgent, accept: '*/*' },
      signal: deadline,
      headersTimeout: remaining(),
      bodyTimeout: remaining(),
    });
    firstByteMs = elapsedSince(facts.readyAtMs ?? started);
    options.onResponseStart?.();
    const header = (name: string): string | undefined => {
      const value = response.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const body = await readBody(response.body, isTextType(header('content-type')), options.maxBodyBytes, {
      deadline,
      facts,
      isBodyKept: options.isBodyKept === true,
    });
    const { bodyBytes, isBodyTruncated, bodyOutcome, bodyError, prefix, kept: keptBody } = body;
    if (isBodyTruncated) response.body.destroy();
    isSettled = !isBodyTruncated && bodyError === undefined;
    const failure =
      bodyError === undefined
        ? undefined
        : failureOf(bodyOutcome, bodyError, facts.socketErrno ?? errnoOf(bodyError));
    const record = keepBody(
      keptBody,
      result(bodyOutcome, {
        status: response.statusCode,
        headers: {
          server: header('server'),
          location: header('location'),
          retryAfter: header('retry-after'),
          contentType: header('content-type'),
          via: header('via'),
          link: header('link'),
          cfMitigated: header('cf-mitigated'),
        },
        bodyPrefix: prefix,
        headerNames: Object.keys(response.headers),
        bodyBytes,
        isBodyTruncated,
        firstByteMs,
        errno: failure?.errno,
        message: failure?.message,
      }),
    );
    isKept =
      options.isConnectionKept === true &&
      isSettled &&
      redirectStatuses.has(response.statusCode) &&
      record.headers.location !== undefined &&
      connection.isOpen();
    if (isKept) keptConnections.set(record, connection);
    return record;
  } catch (error) {
    if (facts.connectFailure) {
      return result(facts.connectFailure.outcome, facts.connectFailure);
    }
    const errno = facts.socketErrno ?? errnoOf(error);
    const outcome = failureKind(error, errno, facts, deadline);
    const record = result(outcome, failureOf(outcome, error, errno));
    // A kept connection the server closed as our request went out (its keep-alive ended): a browser sends the
    // request again on a new connection, and so does this, once; only a new connection's failure is evidence.
    if (kept && !facts.isConnectedHere && record.bytesReceived === 0 && isClosedUnderUs(outcome)) {
      return exchange({ ...options, connection: undefined });
    }
    // No answer: whether the server's TCP acknowledged the request tells a server that got it and stays silent
    // from a path that lost it. The kernel keeps the closed connection (FIN_WAIT) with its queue a while. Read
    // after the record, so its timings end when the exchange did.
    if (outcome === 'headers_timeout' && facts.ends) {
      const unacknowledgedBytes = await unacknowledgedBytesOf(facts.ends);
      if (unacknowledgedBytes !== undefined) record.unacknowledgedBytes = unacknowledgedBytes;
    }
    return record;
  } finally {
    // Both close() and destroy() build a ClientDestroyedError with a stack trace unless handed one; a
    // finished exchange has nothing in flight to receive it, so it gets a shared one.
    if (!isKept) await connection.destroy(isSettled ? exchangeFinished : null);
  }
}

/**
 * Bodies kept for content checks, by the exchange they belong to: beside the report, never in it (a report is
 * stored and sent whole), and gone with the exchange.
 */
const keptBodies = new WeakMap<HttpExchange, Buffer>();

function keepBody(body: Buffer | undefined, exchange: HttpExchange): HttpExchange {
  if (body) keptBodies.set(exchange, body);
  return exchange;
}

/** The body an exchange kept (`isBodyKept`), up to maxBodyBytes. */
export function capturedBodyOf(exchange: HttpExchange): Buffer | undefined {
  return keptBodies.get(exchange);
}

function isClosedUnderUs(outcome: HttpOutcomeKind): boolean {
  return outcome === 'reset' || outcome === 'empty_reply' || outcome === 'error';
}

/** A connection left open after a complete redirect answer, for the next hop to the same origin. */
export interface KeptConnection {
  /** `scheme://host:port`, as the Host header and SNI named it: only a request to this origin may use it. */
  readonly origin: string;
  /** The address it is connected to. */
  readonly address: string;
  /** Closes it; a second call does nothing. */
  close(): void;
}

/** Connections kept by the exchange whose answer kept them, until the caller takes them. */
const keptConnections = new WeakMap<HttpExchange, Connection>();

/**
 * The connection this exchange left open (`isConnectionKept` and a complete redirect answer), handed over once:
 * the caller sends the next hop on it (`connection`) or closes it.
 */
export function keptConnectionOf(exchange: HttpExchange): KeptConnection | undefined {
  const connection = keptConnections.get(exchange);
  keptConnections.delete(exchange);
  return connection;
}

/** The origin a kept connection serves, for a hop's URL. */
export function connectionOriginOf(scheme: string, host: string, port: number): string {
  return originOf(scheme, host, port);
}

/**
 * One undici client and the connection under it. Each exchange on it makes itself `current`; the socket's
 * listeners write into the current exchange's facts, so a kept connection's second exchange sees its own FIN
 * and errors. undici calls the connector again only when the connection has closed.
 */
class Connection implements KeptConnection {
  readonly origin: string;
  readonly address: string;
  readonly client: InstanceType<typeof Client>;
  private current: { options: ExchangeOptions; facts: SocketFacts };
  private isClosed = false;
  /** How long its socket took to connect: the round trip to the server, for the exchanges that reuse it. */
  private connectMs?: number;

  constructor(options: ExchangeOptions, facts: SocketFacts) {
    this.origin = originOf(options.scheme, options.hostHeader, options.port);
    this.address = options.address;
    this.current = { options, facts };
    this.client = new Client(this.origin, {
      connect: this.connector(),
      pipelining: 1,
      maxHeaderSize: 64 * 1024,
    });
  }

  /**
   * Takes this connection for a new exchange with `facts`, counting from the socket's present bytes; undefined
   * when it cannot serve it (another origin or address, or closed).
   */
  adopt(options: ExchangeOptions, facts: SocketFacts): Connection | undefined {
    const origin = originOf(options.scheme, options.hostHeader, options.port);
    if (origin !== this.origin || options.address !== this.address || !this.isOpen()) {
      this.close();
      return undefined;
    }
    const previous = this.current.facts;
    const socket = previous.socket as net.Socket;
    facts.socket = socket;
    facts.ends = previous.ends;
    facts.readyAtMs = performance.now();
    facts.bytesWrittenBefore = socket.bytesWritten;
    facts.bytesReadBefore = socket.bytesRead;
    facts.keptConnection = this.connectMs === undefined ? {} : { connectMs: this.connectMs };
    this.current = { options, facts };
    return this;
  }

  isOpen(): boolean {
    const { socket, hasPeerFin } = this.current.facts;
    return !this.isClosed && socket !== undefined && !socket.destroyed && !hasPeerFin;
  }

  close(): void {
    this.destroy(exchangeFinished);
  }

  /** Closes the client and its connection, handing undici `error` for what is in flight (null: its own). */
  async destroy(error: Error | null): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    await this.client.destroy(error).catch(() => {});
  }

  /**
   * The connector undici calls for a connection: the socket the caller already opened (once), or a new one;
   * each is observed from the moment it is ready, so its byte counts and FIN tell how the exchange ended.
   */
  private connector() {
    let isPresetUsed = false;
    return (
      _connectOptions: unknown,
      callback: (...args: [null, net.Socket] | [Error, null]) => void,
    ): void => {
      const { options, facts } = this.current;
      if (options.socket && !isPresetUsed) {
        isPresetUsed = true;
        facts.connectMs = options.socketTimings?.connectMs;
        facts.tlsMs = options.socketTimings?.tlsMs;
        const socket = options.socket;
        this.observe(socket, options, facts);
        // undici expects the connector to answer asynchronously, as a real connect does.
        process.nextTick(() => callback(null, socket));
        return;
      }
      openConnection(options, facts, options.signal).then(
        (socket) => {
          this.observe(socket, options, facts);
          callback(null, socket);
        },
        (error: Error) => callback(error, null),
      );
    };
  }

  private observe(socket: net.Socket, options: ExchangeOptions, facts: SocketFacts): void {
    facts.socket = socket;
    facts.isConnectedHere = true;
    this.connectMs = facts.connectMs;
    facts.readyAtMs = performance.now();
    // Counted from here, so a TLS handshake's bytes are not taken for our request going out.
    facts.bytesWrittenBefore = socket.bytesWritten;
    facts.bytesReadBefore = socket.bytesRead;
    // The peer is the address this exchange is pinned to; only the local port needs asking (one getsockname).
    const localPort = socket.localPort;
    if (localPort !== undefined)
      facts.ends = { localPort, remoteAddress: options.address, remotePort: options.port };
    // Into the facts of the exchange on this socket now: a kept connection serves more than one.
    socket.on('end', () => {
      if (this.current.facts.socket === socket) this.current.facts.hasPeerFin = true;
    });
    socket.on('error', (error) => {
      if (this.current.facts.socket === socket) this.current.facts.socketErrno ??= errnoOf(error);
    });
  }
}

/** What an exchange's ending adds to its record (each absent one left out of it). */
interface ExchangeEnding {
  status?: number;
  headers?: HttpExchange['headers'];
  bodyPrefix?: string;
  headerNames?: string[];
  bodyBytes?: number;
  isBodyTruncated?: boolean;
  firstByteMs?: number;
  errno?: string;
  message?: string;
  tlsHandshake?: HttpExchange['tlsHandshake'];
}

/**
 * Builds the exchange's record from the socket's facts at the moment it ended. One object literal, its fields
 * added in a fixed order (the report's): spreading the parts into it cost a runtime copy per exchange.
 */
function resultBuilder(options: ExchangeOptions, facts: SocketFacts, started: number) {
  const url = `${originOf(options.scheme, options.hostHeader, options.port)}${options.path}`;
  // Plain http sends no SNI, whatever name the caller passed.
  const servername = options.scheme === 'https' ? options.servername : null;
  const startedAtMs = Math.round(started - options.probeStartedMs);
  return (outcome: HttpOutcomeKind, ending: ExchangeEnding = {}): HttpExchange => {
    const socket = facts.socket;
    const bytesSent = socket ? socket.bytesWritten - facts.bytesWrittenBefore : 0;
    const result: HttpExchange = {
      url,
      address: options.address,
      port: options.port,
      hostHeader: options.hostHeader,
      path: options.path,
      servername,
      startedAtMs,
      outcome,
      headers: ending.headers ?? {},
      bodyBytes: ending.bodyBytes ?? 0,
      isBodyTruncated: ending.isBodyTruncated ?? false,
    } as HttpExchange;
    if (ending.status !== undefined) result.status = ending.status;
    if (ending.bodyPrefix !== undefined) result.bodyPrefix = ending.bodyPrefix;
    if (ending.headerNames !== undefined) result.headerNames = ending.headerNames;
    if (ending.errno !== undefined) result.errno = ending.errno;
    if (ending.message !== undefined) result.message = ending.message;
    if (ending.tlsHandshake !== undefined) result.tlsHandshake = ending.tlsHandshake;
    if (facts.tls !== undefined) result.tls = facts.tls;
    if (facts.keptConnection !== undefined && facts.isConnectedHere !== true)
      result.reusedConnection = facts.keptConnection;
    result.timings = {
      dnsMs: options.dnsMs,
      connectMs: facts.connectMs,
      tlsMs: facts.tlsMs,
      firstByteMs: ending.firstByteMs,
      totalMs: elapsedSince(started),
    };
    result.bytesSent = bytesSent;
    result.bytesReceived = socket ? socket.bytesRead - facts.bytesReadBefore : 0;
    result.isRequestSent = bytesSent > 0;
    result.hasPeerFin = facts.hasPeerFin;
    return result;
  };
}

/**
 * Reads the body up to maxBodyBytes, keeping the first bytes of a text page, and says how the reading ended:
 * complete (up to exactly the limit), truncated (longer than the limit), stalled (body_timeout) or cut (reset).
 * Read through the stream's events rather than `for await`: the async iterator cost a promise per chunk and an
 * end-of-stream watcher per exchange (≈ 1.5 % of a probe's CPU); its ending is kept (a close with neither end
 * nor error is the iterator's "Premature close").
 */
function readBody(
  stream: Readable,
  isText: boolean,
  maxBodyBytes: number,
  context: { deadline: AbortSignal; facts: SocketFacts; isBodyKept: boolean },
) {
  const { deadline, facts, isBodyKept } = context;
  const keptChunks: Buffer[] = [];
  let bodyBytes = 0;
  let isBodyTruncated = false;
  let bodyOutcome: HttpOutcomeKind = 'response';
  let bodyError: unknown;
  const prefixChunks: Buffer[] = [];
  let prefixBytes = 0;
  return new Promise<{
    bodyBytes: number;
    isBodyTruncated: boolean;
    bodyOutcome: HttpOutcomeKind;
    bodyError: unknown;
    prefix: string | undefined;
    kept: Buffer | undefined;
  }>((resolve) => {
    let isDone = false;
    const finish = () => {
      if (isDone) return;
      isDone = true;
      // The error listener stays (it does nothing now): an error after the end must not go unhandled.
      stream.off('data', onData);
      stream.off('end', finish);
      stream.off('close', onClose);
      const prefix = prefixBytes > 0 ? Buffer.concat(prefixChunks).toString('utf8') : undefined;
      const kept = isBodyKept ? Buffer.concat(keptChunks) : undefined;
      resolve({ bodyBytes, isBodyTruncated, bodyOutcome, bodyError, prefix, kept });
    };
    const onError = (error: unknown) => {
      if (isDone) return;
      bodyError = error;
      // The status came, but the body stalled, was cut or broke the protocol: the exchange failed mid-body.
      // None of these is a response: the page is not all there.
      if (isTimeout(error, deadline)) bodyOutcome = 'body_timeout';
      else if (facts.socketErrno === 'ECONNRESET' || errnoOf(error) === 'ECONNRESET') bodyOutcome = 'reset';
      else if (error instanceof undiciErrors.HTTPParserError) bodyOutcome = 'protocol_error';
      else bodyOutcome = 'body_cut';
      finish();
    };
    const onClose = () => onError(prematureClose());
    const onData = (chunk: Buffer) => {
      if (isDone) return;
      if (isText && prefixBytes < bodyPrefixMaxBytes) {
        const part = chunk.subarray(0, bodyPrefixMaxBytes - prefixBytes);
        prefixChunks.push(part);
        prefixBytes += part.length;
      }
      if (isBodyKept) keptChunks.push(chunk.subarray(0, maxBodyBytes - bodyBytes));
      bodyBytes += chunk.length;
      // Past the limit, not at it: a body of exactly maxBodyBytes is whole, which only its end (or one byte
      // more) can tell.
      if (bodyBytes > maxBodyBytes) {
        isBodyTruncated = true;
        bodyBytes = maxBodyBytes;
        finish();
      }
    };
    // Already ended before these listeners (an error emitted while the headers' promise settled).
    if (stream.errored) {
      onError(stream.errored);
      return;
    }
    if (stream.destroyed) {
      onClose();
      return;
    }
    stream.on('data', onData);
    stream.once('end', finish);
    stream.once('error', onError);
    stream.once('close', onClose);
  });
}

/** What Node's stream iterator throws for a stream closed with neither an end nor an error. */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/** Enough of a page to recognise a block page or a challenge by its fingerprints, small enough for a report. */
const bodyPrefixMaxBytes = 4096;

function isTextType(contentType: string | undefined): boolean {
  return contentType === undefined || /^(text\/|application\/(xhtml\+xml|json|xml))/i.test(contentType);
}

function isTimeout(error: unknown, deadline: AbortSignal): boolean {
  return (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    (deadline.aborted && (error as Error)?.name !== 'SocketError')
  );
}

/**
 * An exchange out of time ends the same way whichever clock saw it first. Two keep its time: undici's headers and
 * body timeouts (this exchange's share) and the probe's signal (its deadline); for the target's own exchange both
 * fall in the same millisecond, and the event loop picks which fires first. Undici's timeout fails the request
 * with UND_ERR_HEADERS_TIMEOUT (or _BODY_); the signal fails it with the signal's reason and destroys the socket
 * with UND_ERR_INFO ("aborted"). A timeout is therefore named for the phase it cut, never for the timer.
 */
const timeoutFailures = {
  headers_timeout: { errno: 'UND_ERR_HEADERS_TIMEOUT', message: 'no response headers before the deadline' },
  body_timeout: { errno: 'UND_ERR_BODY_TIMEOUT', message: 'the body did not end before the deadline' },
} as const;

/** The errno and message an exchange that failed as `outcome` reports. */
function failureOf(outcome: HttpOutcomeKind, error: unknown, errno: string | undefined) {
  if (outcome === 'headers_timeout' || outcome === 'body_timeout') return timeoutFailures[outcome];
  // The parser keeps the bytes it stopped at: what answered (an SSH banner, a TLS alert) is in them.
  const data = error instanceof undiciErrors.HTTPParserError ? (error as { data?: string }).data : undefined;
  if (data) return { errno, message: `${messageOf(error)} at ${JSON.stringify(data.slice(0, 48))}` };
  return { errno, message: messageOf(error) };
}

function failureKind(error: unknown, errno: string | undefined, facts: SocketFacts, deadline: AbortSignal) {
  if (errno === 'ECONNRESET' || errno === 'EPIPE') return 'reset';
  // Bytes came that are not HTTP: whatever closed the connection after them, the reply was the fault.
  if (error instanceof undiciErrors.HTTPParserError) return 'protocol_error';
  if (error instanceof undiciErrors.SocketError && facts.hasPeerFin) return 'empty_reply';
  if (error instanceof undiciErrors.HeadersTimeoutError) return 'headers_timeout';
  if (error instanceof undiciErrors.BodyTimeoutError) return 'body_timeout';
  if (deadline.aborted) return 'headers_timeout';
  if (facts.hasPeerFin) return 'empty_reply';
  return 'error';
}

/** A fresh connection for a redirect hop or a differential request, TLS included. */
async function openConnection(
  options: ExchangeOptions,
  facts: SocketFacts,
  signal: AbortSignal,
): Promise<net.Socket> {
  const connected = await connectOnce(options.address, {
    port: options.port,
    timeoutMs: options.timeoutMs,
    signal,
    isAddressAllowed: options.isAddressAllowed,
  });
  const outcome = connected.outcome;
  if (outcome.kind !== 'connected' || !connected.socket) {
    const message = outcome.kind === 'connected' ? 'no socket' : (outcome.message ?? outcome.kind);
    facts.connectFailure = {
      outcome: outcome.kind === 'refused_by_policy' ? 'refused_by_policy' : 'connect_failed',
      errno: outcome.kind === 'connected' ? undefined : (outcome.errno ?? outcome.kind),
      message,
    };
    throw new ConnectPhaseError(message);
  }
  facts.connectMs = outcome.connectMs;
  if (options.scheme === 'http') return connected.socket;
  const handshake = await handshakeTls({
    socket: connected.socket,
    address: options.address,
    servername: options.servername,
    ca: options.ca,
    timeoutMs: options.timeoutMs,
    signal,
  });
  facts.tlsMs = handshake.observation.handshakeMs;
  if (handshake.socket) facts.tls = handshake.observation;
  if (!handshake.socket) {
    facts.connectFailure = {
      outcome: 'tls_failed',
      errno: handshake.observation.errno ?? handshake.observation.outcome,
      message: handshake.observation.message ?? `TLS ${handshake.observation.outcome}`,
      tlsHandshake: {
        outcome: handshake.observation.outcome,
        bytesSent: handshake.observation.bytesSent,
        ...(handshake.observation.unacknowledgedBytes === undefined
          ? {}
          : { unacknowledgedBytes: handshake.observation.unacknowledgedBytes }),
      },
    };
    throw new ConnectPhaseError(facts.connectFailure.message);
  }
  return handshake.socket;
}
