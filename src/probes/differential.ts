// The differential retry (OONI http-host/sni, Censored Planet Quack): a neutral request to the same address and
// the original again, to tell a filter on the path from a failing server. The original keeps its whole budget:
// when it stalls, the side requests run beside it instead of cutting it short.
import net from 'node:net';
import type {
  HttpDifferentialObservation,
  HttpExchange,
  TlsDifferentialObservation,
  TlsObservation,
} from '../types.js';
import { type ExchangeOptions, exchange } from './http.js';
import { hostOf, type TargetProbeOptions } from './probe-context.js';
import { connectOnce } from './tcp.js';
import { handshakeTls, type TlsHandshakeResult } from './tls.js';
import { remainingMs } from './util.js';

/**
 * The share of the remaining budget after which an original that has not answered counts as stalled, and the
 * side requests start beside it. The original itself is never cut: it runs to the deadline.
 */
const stallShare = 0.4;

/**
 * After our bytes went out: a reset, an empty reply, no answer, or (on a new connection, a redirect hop) a TLS
 * handshake reset, closed or unanswered after the ClientHello carrying the name.
 */
export function needsDifferential(result: HttpExchange): boolean {
  if (result.outcome === 'reset' || result.outcome === 'empty_reply') return true;
  if (result.outcome === 'tls_failed') {
    const handshake = result.tlsHandshake;
    return handshake !== undefined && handshake.bytesSent > 0 && tlsTrigger(handshake.outcome) !== null;
  }
  return result.outcome === 'headers_timeout' && result.isRequestSent;
}

function httpTrigger(result: HttpExchange): HttpDifferentialObservation['trigger'] {
  const outcome = result.outcome === 'tls_failed' ? result.tlsHandshake?.outcome : result.outcome;
  if (outcome === 'reset') return 'reset';
  if (outcome === 'empty_reply' || outcome === 'closed') return 'empty_reply';
  return 'timeout';
}

/**
 * Resolves with the promise's value if it settles within `ms`, else undefined (the promise runs on). One timer
 * and one promise per exchange: a Promise.race with a timeout promise cost three.
 */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms, undefined);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** A signal that ends with the probe's deadline or when the caller no longer needs the side requests. */
function sideSignal(options: TargetProbeOptions): { signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  return {
    signal: AbortSignal.any([options.signal, controller.signal]),
    stop: () => controller.abort(new Error('reach: the original answered')),
  };
}

/**
 * One exchange with its differential. The original request gets the whole remaining budget. If it fails fast
 * (reset, empty reply) the neutral and repeated requests follow it; if it has no answer after `stallShare` of
 * the budget, they start beside it, with a small HEAD of the same page, and whatever the original ends with
 * is judged with their outcomes. A filter claim then rests on an original that never answered in the whole
 * budget, not on one cut short to make room.
 */
export async function exchangeWithDifferential(
  request: Omit<ExchangeOptions, 'timeoutMs' | 'onResponseStart'>,
  url: URL,
  options: TargetProbeOptions,
): Promise<{ first: HttpExchange; differential: HttpDifferentialObservation | null }> {
  let hasHeaders = false;
  // The callers make `request` for this call: completed in place into the original's options (a copy of its
  // fifteen fields was most of this function's CPU). The side requests take only the fields they name.
  const originalOptions = request as ExchangeOptions;
  originalOptions.timeoutMs = remainingMs(options.deadlineMs, 1);
  originalOptions.onResponseStart = () => {
    hasHeaders = true;
  };
  const original = exchange(originalOptions);
  const stallAfterMs = Math.round(remainingMs(options.deadlineMs, 1) * stallShare);
  const early = await within(original, stallAfterMs);
  if (early === undefined && !hasHeaders) {
    const side = sideSignal(options);
    const beside = sideExchanges(request, url, options, side.signal, true);
    const first = await original;
    if (!needsDifferential(first)) {
      side.stop();
      await beside;
      return { first, differential: null };
    }
    return { first, differential: httpDifferentialOf(first, await beside, url, true) };
  }
  const first = early ?? (await original);
  // Past the deadline (or stopped by the caller) the side requests could not get an answer, only open
  // connections the user no longer wants: a batch stopped with Ctrl-C made two per probe in flight.
  if (!needsDifferential(first) || options.signal.aborted) return { first, differential: null };
  const sides = await sideExchanges(request, url, options, options.signal, false);
  return { first, differential: httpDifferentialOf(first, sides, url, false) };
}

function httpDifferentialOf(
  first: HttpExchange,
  sides: { neutral: HttpExchange; retry: HttpExchange; small?: HttpExchange },
  url: URL,
  isConcurrent: boolean,
): HttpDifferentialObservation {
  const { neutral, retry, small } = sides;
  return {
    layer: 'http',
    trigger: httpTrigger(first),
    neutral,
    retry,
    ...(small ? { small } : {}),
    ...(isConcurrent ? { isConcurrent } : {}),
    steps: httpSteps(first, neutral, retry, small, url, isConcurrent),
  };
}

/**
 * The neutral request (the address as Host, path "/", no SNI) and the original again, each on a new
 * connection; beside a stalled original they run together, with a HEAD of the original page.
 */
async function sideExchanges(
  request: Omit<ExchangeOptions, 'timeoutMs' | 'onResponseStart'>,
  url: URL,
  options: TargetProbeOptions,
  signal: AbortSignal,
  isBesideStall: boolean,
): Promise<{ neutral: HttpExchange; retry: HttpExchange; small?: HttpExchange }> {
  const host = hostOf(url);
  const common = {
    scheme: request.scheme,
    address: request.address,
    port: request.port,
    ca: request.ca,
    maxBodyBytes: request.maxBodyBytes,
    signal,
    isAddressAllowed: request.isAddressAllowed,
    probeStartedMs: request.probeStartedMs,
  };
  const original = {
    ...common,
    hostHeader: request.hostHeader,
    servername: request.servername,
    path: request.path,
  };
  const neutralRequest = { ...common, hostHeader: request.address, servername: null, path: '/' };
  if (isBesideStall) {
    const timeoutMs = remainingMs(options.deadlineMs, 1);
    const [neutral, retry, small] = await Promise.all([
      exchange({ ...neutralRequest, timeoutMs }),
      exchange({ ...original, timeoutMs }),
      exchange({ ...original, method: 'HEAD', timeoutMs }),
    ]);
    return { neutral, retry, small };
  }
  const neutral = await exchange({
    ...neutralRequest,
    timeoutMs: Math.round(remainingMs(options.deadlineMs, 1) / 2),
  });
  const retry = await exchange({
    ...original,
    servername: net.isIP(host) ? null : request.servername,
    timeoutMs: remainingMs(options.deadlineMs, 1),
  });
  return { neutral, retry };
}

function httpSteps(
  first: HttpExchange,
  neutral: HttpExchange,
  retry: HttpExchange,
  small: HttpExchange | undefined,
  url: URL,
  isConcurrent: boolean,
): string[] {
  const host = hostOf(url);
  const beside = isConcurrent ? ', sent beside the original while it had no answer' : '';
  return [
    `+${first.startedAtMs} ms: GET ${first.path} with Host ${host} to ${first.address}: ${describeExchange(first)}`,
    `+${neutral.startedAtMs} ms: GET / with neutral Host ${neutral.address} (no SNI) to the same address${beside}: ${describeExchange(neutral)}`,
    `+${retry.startedAtMs} ms: the original request again on a new connection${beside}: ${describeExchange(retry)}`,
    ...(small
      ? [
          `+${small.startedAtMs} ms: HEAD ${small.path} with Host ${host} (a small answer)${beside}: ${describeExchange(small)}`,
        ]
      : []),
  ];
}

function tlsTrigger(outcome: TlsObservation['outcome']): TlsDifferentialObservation['trigger'] | null {
  if (outcome === 'reset') return 'tls_reset';
  if (outcome === 'closed') return 'tls_closed';
  if (outcome === 'timeout') return 'tls_timeout';
  return null;
}

/**
 * The TLS handshake with its differential, the same way: the original handshake runs to the deadline; if it
 * has not completed after `stallShare` of the budget, a handshake without SNI and one with it start beside it.
 */
export async function handshakeWithDifferential(
  handshake: { socket: net.Socket; address: string; servername: string | null; port: number },
  options: TargetProbeOptions,
): Promise<{ result: TlsHandshakeResult; differential: TlsDifferentialObservation | null }> {
  const original = handshakeTls({
    socket: handshake.socket,
    address: handshake.address,
    servername: handshake.servername,
    ca: options.ca,
    timeoutMs: remainingMs(options.deadlineMs, 1),
    signal: options.signal,
  });
  const stallAfterMs = Math.round(remainingMs(options.deadlineMs, 1) * stallShare);
  const early = await within(original, stallAfterMs);
  if (early === undefined && handshake.servername !== null) {
    const side = sideSignal(options);
    const beside = Promise.all([
      handshakeOnNewConnection(handshake.address, handshake.port, null, options, side.signal),
      handshakeOnNewConnection(handshake.address, handshake.port, handshake.servername, options, side.signal),
    ]);
    const result = await original;
    const trigger = tlsTrigger(result.observation.outcome);
    if (result.socket || trigger === null || result.observation.bytesSent === 0) {
      side.stop();
      await beside;
      return { result, differential: null };
    }
    const [neutral, retry] = await beside;
    return {
      result,
      differential: tlsObservationOf(trigger, result.observation, neutral, retry, handshake.servername, true),
    };
  }
  const result = early ?? (await original);
  const differential = result.socket
    ? null
    : await tlsDifferential(
        result.observation,
        handshake.address,
        handshake.servername,
        handshake.port,
        options,
      );
  return { result, differential };
}

/** After a failed handshake (or a redirect hop whose handshake failed): without SNI, then with it again. */
export async function tlsDifferential(
  first: Pick<TlsObservation, 'outcome' | 'errno' | 'bytesSent'>,
  address: string,
  servername: string | null,
  port: number,
  options: TargetProbeOptions,
): Promise<TlsDifferentialObservation | null> {
  const trigger = tlsTrigger(first.outcome);
  if (trigger === null || first.bytesSent === 0 || servername === null) return null;
  const neutral = await handshakeOnNewConnection(address, port, null, options, options.signal, 0.5);
  const retry = await handshakeOnNewConnection(address, port, servername, options, options.signal);
  return tlsObservationOf(trigger, first, neutral, retry, servername, false);
}

function tlsObservationOf(
  trigger: TlsDifferentialObservation['trigger'],
  first: Pick<TlsObservation, 'outcome' | 'errno'> & { address?: string },
  neutral: TlsObservation,
  retry: TlsObservation,
  servername: string,
  isConcurrent: boolean,
): TlsDifferentialObservation {
  const beside = isConcurrent ? ', sent beside the original while it had not completed' : '';
  return {
    layer: 'tls',
    trigger,
    neutral,
    retry,
    ...(isConcurrent ? { isConcurrent } : {}),
    steps: [
      `ClientHello with SNI ${servername} to ${neutral.address}: ${first.outcome}${first.errno ? ` (${first.errno})` : ''}`,
      `ClientHello without SNI to the same address${beside}: ${describeTls(neutral)}`,
      `ClientHello with SNI ${servername} again on a new connection${beside}: ${describeTls(retry)}`,
    ],
  };
}

async function handshakeOnNewConnection(
  address: string,
  port: number,
  servername: string | null,
  options: TargetProbeOptions,
  signal: AbortSignal,
  budgetShare = 1,
): Promise<TlsObservation> {
  const timeoutMs = Math.max(1, Math.round(remainingMs(options.deadlineMs, 1) * budgetShare));
  const connected = await connectOnce(address, {
    port,
    timeoutMs,
    signal,
    isAddressAllowed: options.isAddressAllowed,
  });
  if (connected.outcome.kind !== 'connected' || !connected.socket) {
    const errno = connected.outcome.kind === 'connected' ? undefined : connected.outcome.errno;
    return {
      address,
      servername,
      outcome: 'error',
      handshakeMs: 0,
      isTrusted: false,
      errno,
      message: `connect ${connected.outcome.kind}`,
      bytesSent: 0,
    };
  }
  const handshake = await handshakeTls({
    socket: connected.socket,
    address,
    servername,
    ca: options.ca,
    timeoutMs,
    signal,
  });
  handshake.socket?.destroy();
  return handshake.observation;
}

function describeExchange(result: HttpExchange): string {
  if (result.outcome === 'response') return `HTTP ${result.status}`;
  const sent = result.isRequestSent ? `after ${result.bytesSent} bytes sent` : 'before the request went out';
  return `${result.outcome.replace('_', ' ')} ${sent}${result.errno ? ` (${result.errno})` : ''}`;
}

function describeTls(result: TlsObservation): string {
  return result.outcome === 'established'
    ? 'handshake completed'
    : `${result.outcome}${result.errno ? ` (${result.errno})` : ''}`;
}
