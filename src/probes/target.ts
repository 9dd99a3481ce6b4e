// Probes one URL through every layer (DNS → TCP → TLS → HTTP, redirects, differential retry) under one deadline.
import net from 'node:net';
import type tls from 'node:tls';
import { getDomain } from 'tldts';
import type {
  DifferentialObservation,
  HttpExchange,
  HttpObservation,
  RedirectHop,
  ResolverSpec,
  TargetObservation,
  TlsObservation,
} from '../types.js';
import { type DnsProbeResult, probeDns } from './dns.js';
import { exchange } from './http.js';
import { connectOnce, probeTcp } from './tcp.js';
import { handshakeTls } from './tls.js';
import { remainingMs } from './util.js';

export interface TargetProbeOptions {
  url: URL;
  resolvers: ResolverSpec[];
  ca?: string[];
  maxRedirects: number;
  maxBodyBytes: number;
  dnsInjectionWindowMs: number;
  isAddressAllowed?: (address: string) => string | undefined;
  /** performance.now() value by which everything must be done. */
  deadlineMs: number;
  probeStartedMs: number;
  signal: AbortSignal;
}

export class TargetRefusedError extends Error {
  readonly address: string;
  readonly reason: string;
  constructor(address: string, reason: string) {
    super(`refusing to probe ${address}: ${reason}`);
    this.name = 'TargetRefusedError';
    this.address = address;
    this.reason = reason;
  }
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);

export function hostOf(url: URL): string {
  const host = url.hostname;
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

export function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

export function registrableDomain(host: string): string | null {
  if (net.isIP(host)) return host;
  return getDomain(host, { allowPrivateDomains: true }) ?? host;
}

function pathOf(url: URL): string {
  return `${url.pathname || '/'}${url.search}`;
}

/** Checks an address against the policy and throws: a refused target is not probed at all. */
function enforcePolicy(address: string, options: TargetProbeOptions): void {
  const reason = options.isAddressAllowed?.(address);
  if (reason !== undefined) throw new TargetRefusedError(address, reason);
}

export async function probeTarget(options: TargetProbeOptions): Promise<TargetObservation> {
  const url = options.url;
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const host = hostOf(url);
  const port = defaultPort(url);
  const isIpLiteral = net.isIP(host) !== 0;
  const notes: string[] = [];
  const observation: TargetObservation = {
    url: url.href,
    scheme,
    host,
    port,
    isIpLiteral,
    dns: null,
    tcp: [],
    tls: null,
    http: null,
    differential: null,
    notes,
  };

  if (isIpLiteral) {
    await probeConnection([host], observation, options);
    return observation;
  }
  const dns = await resolve(host, options);
  observation.dns = dns.observation;
  try {
    if (dns.observation.addresses.length === 0) {
      notes.push('no address to connect to: TCP, TLS and HTTP were not attempted');
    } else {
      await probeConnection(dns.observation.addresses, observation, options);
    }
  } finally {
    // Replies that arrive after the first (an injector's victim answer) join the evidence.
    await dns.lateReplies;
  }
  return observation;
}

/** TCP to every address, then TLS, HTTP, the differential retry and redirects on the first that connected. */
async function probeConnection(
  addresses: string[],
  observation: TargetObservation,
  options: TargetProbeOptions,
): Promise<void> {
  const { url } = options;
  const { scheme, host, port, isIpLiteral, notes } = observation;
  const remaining = () => remainingMs(options.deadlineMs, 1);
  for (const address of addresses) enforcePolicy(address, options);

  const tcp = await probeTcp({ addresses, port, timeoutMs: remaining(), signal: options.signal });
  observation.tcp = tcp.outcomes;
  if (!tcp.socket || !tcp.socketAddress) {
    notes.push('no address accepted a connection: TLS and HTTP were not attempted');
    return;
  }
  const address = tcp.socketAddress;
  const connected = tcp.outcomes.find((o) => o.kind === 'connected' && o.address === address);
  const connectMs = connected?.kind === 'connected' ? connected.connectMs : undefined;

  let socket: net.Socket | tls.TLSSocket = tcp.socket;
  let tlsMs: number | undefined;
  if (scheme === 'https') {
    const handshake = await handshakeTls({
      socket: tcp.socket,
      address,
      servername: isIpLiteral ? null : host,
      ca: options.ca,
      // Leave time for a handshake without SNI and a retry if this ClientHello is dropped.
      timeoutMs: Math.round(remaining() * 0.6),
      signal: options.signal,
    });
    observation.tls = handshake.observation;
    if (!handshake.socket) {
      observation.differential = await tlsDifferential(handshake.observation, address, host, port, options);
      notes.push('the TLS handshake failed: HTTP was not attempted');
      return;
    }
    socket = handshake.socket;
    tlsMs = handshake.observation.handshakeMs;
  }

  const first = await exchange({
    scheme,
    address,
    port,
    hostHeader: host,
    servername: isIpLiteral ? null : host,
    path: pathOf(url),
    socket,
    socketTimings: { connectMs, tlsMs },
    dnsMs: observation.dns?.durationMs,
    ca: options.ca,
    // Leave time for a neutral request and a retry if this one is dropped after the request goes out.
    timeoutMs: Math.round(remaining() * 0.6),
    maxBodyBytes: options.maxBodyBytes,
    signal: options.signal,
    isAddressAllowed: options.isAddressAllowed,
    probeStartedMs: options.probeStartedMs,
  });
  if (needsDifferential(first)) {
    observation.differential = await httpDifferential(first, scheme, url, options);
  }
  observation.http = await followRedirects(first, url, options);
}

async function resolve(host: string, options: TargetProbeOptions): Promise<DnsProbeResult> {
  const budget = remainingMs(options.deadlineMs, 1);
  return probeDns({
    name: host,
    resolvers: options.resolvers,
    // Two attempts per query must fit in about half the budget, leaving the rest for the other layers.
    attemptTimeoutMs: Math.max(50, Math.min(2000, Math.round(budget / 4))),
    injectionWindowMs: Math.min(options.dnsInjectionWindowMs, Math.round(budget / 4)),
    signal: options.signal,
  });
}

function needsDifferential(result: HttpExchange): boolean {
  if (result.outcome === 'reset' || result.outcome === 'empty_reply') return true;
  return result.outcome === 'headers_timeout' && result.isRequestSent;
}

function differentialTrigger(result: HttpExchange): DifferentialObservation['trigger'] {
  if (result.outcome === 'reset') return 'reset';
  if (result.outcome === 'empty_reply') return 'empty_reply';
  return 'timeout';
}

/**
 * The method of OONI's http-host test and Censored Planet's Quack: the same address, a request that
 * carries none of the target's names (the address as Host, path "/"), then the original once more.
 */
async function httpDifferential(
  first: HttpExchange,
  scheme: 'http' | 'https',
  url: URL,
  options: TargetProbeOptions,
): Promise<DifferentialObservation> {
  const host = hostOf(url);
  const steps = [
    `+${first.startedAtMs} ms: GET ${first.path} with Host ${host} to ${first.address}: ${describeExchange(first)}`,
  ];
  const common = {
    scheme,
    address: first.address,
    port: first.port,
    ca: options.ca,
    maxBodyBytes: options.maxBodyBytes,
    signal: options.signal,
    isAddressAllowed: options.isAddressAllowed,
    probeStartedMs: options.probeStartedMs,
  };
  const neutral = await exchange({
    ...common,
    hostHeader: first.address,
    servername: null,
    path: '/',
    timeoutMs: Math.round(remainingMs(options.deadlineMs, 1) / 2),
  });
  steps.push(
    `+${neutral.startedAtMs} ms: GET / with neutral Host ${first.address} (no SNI) to the same address: ${describeExchange(neutral)}`,
  );
  const retry = await exchange({
    ...common,
    hostHeader: host,
    servername: net.isIP(host) ? null : host,
    path: first.path,
    timeoutMs: remainingMs(options.deadlineMs, 1),
  });
  steps.push(
    `+${retry.startedAtMs} ms: the original request again on a new connection: ${describeExchange(retry)}`,
  );
  return { trigger: differentialTrigger(first), layer: 'http', neutral, retry, steps };
}

async function tlsDifferential(
  first: TlsObservation,
  address: string,
  host: string,
  port: number,
  options: TargetProbeOptions,
): Promise<DifferentialObservation | null> {
  const trigger =
    first.outcome === 'reset'
      ? 'tls_reset'
      : first.outcome === 'closed'
        ? 'tls_closed'
        : first.outcome === 'timeout'
          ? 'tls_timeout'
          : null;
  if (trigger === null || first.bytesSent === 0) return null;
  const steps = [`ClientHello with SNI ${host} to ${address}: ${first.outcome} (${first.errno ?? ''})`];
  const neutral = await handshakeOnNewConnection(address, port, null, options, 0.5);
  steps.push(`ClientHello without SNI to the same address: ${describeTls(neutral)}`);
  const retry = await handshakeOnNewConnection(address, port, host, options, 1);
  steps.push(`ClientHello with SNI ${host} again on a new connection: ${describeTls(retry)}`);
  return { trigger, layer: 'tls', neutral, retry, steps };
}

async function handshakeOnNewConnection(
  address: string,
  port: number,
  servername: string | null,
  options: TargetProbeOptions,
  budgetShare: number,
): Promise<TlsObservation> {
  const timeoutMs = Math.max(1, Math.round(remainingMs(options.deadlineMs, 1) * budgetShare));
  const connected = await connectOnce(address, {
    port,
    timeoutMs,
    signal: options.signal,
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
    signal: options.signal,
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

async function followRedirects(
  first: HttpExchange,
  url: URL,
  options: TargetProbeOptions,
): Promise<HttpObservation> {
  const hops: RedirectHop[] = [{ exchange: first, registrableDomain: registrableDomain(hostOf(url)) }];
  const seen = new Set([url.href]);
  let current = first;
  let currentUrl = url;
  let isRedirectLimitReached = false;
  while (
    current.outcome === 'response' &&
    redirectStatuses.has(current.status ?? 0) &&
    current.headers.location
  ) {
    if (hops.length > options.maxRedirects) {
      isRedirectLimitReached = true;
      break;
    }
    let nextUrl: URL;
    try {
      nextUrl = new URL(current.headers.location, currentUrl);
    } catch {
      break; // an unparsable Location: the hop itself is the evidence
    }
    if ((nextUrl.protocol !== 'http:' && nextUrl.protocol !== 'https:') || seen.has(nextUrl.href)) {
      isRedirectLimitReached = seen.has(nextUrl.href);
      break;
    }
    seen.add(nextUrl.href);
    current = await fetchHop(nextUrl, options);
    currentUrl = nextUrl;
    hops.push({ exchange: current, registrableDomain: registrableDomain(hostOf(nextUrl)) });
  }
  return {
    hops,
    finalUrl: currentUrl.href,
    registrableDomain: registrableDomain(hostOf(url)),
    isRedirectLimitReached,
  };
}

/** A redirect hop: resolve its host with the same resolvers, then one exchange on a new connection. */
async function fetchHop(url: URL, options: TargetProbeOptions): Promise<HttpExchange> {
  const host = hostOf(url);
  const port = defaultPort(url);
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const started = performance.now();
  let address = host;
  let dnsMs: number | undefined;
  if (!net.isIP(host)) {
    const dns = (await resolve(host, options)).observation;
    dnsMs = dns.durationMs;
    const resolved = dns.addresses[0];
    if (resolved === undefined) {
      const outcomes = dns.resolvers.flatMap((r) => r.queries.map((q) => q.outcome));
      return {
        url: url.href,
        address: '',
        port,
        hostHeader: host,
        path: pathOf(url),
        servername: scheme === 'https' ? host : null,
        outcome: 'dns_failed',
        headers: {},
        timings: { dnsMs, totalMs: Math.round(performance.now() - started) },
        bytesSent: 0,
        bytesReceived: 0,
        isRequestSent: false,
        hasPeerFin: false,
        bodyBytes: 0,
        isBodyTruncated: false,
        message: `no address for ${host} (${[...new Set(outcomes)].join(', ')})`,
        startedAtMs: Math.round(started - options.probeStartedMs),
      };
    }
    address = resolved;
  }
  enforcePolicy(address, options);
  return exchange({
    scheme,
    address,
    port,
    hostHeader: host,
    servername: net.isIP(host) ? null : host,
    path: pathOf(url),
    dnsMs,
    ca: options.ca,
    timeoutMs: remainingMs(options.deadlineMs, 1),
    maxBodyBytes: options.maxBodyBytes,
    signal: options.signal,
    isAddressAllowed: options.isAddressAllowed,
    probeStartedMs: options.probeStartedMs,
  });
}
