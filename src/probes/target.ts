// Probes one URL through every layer (DNS → TCP → TLS → HTTP, redirects, differential retry, the page check
// of a plain-http page) under one deadline.
import net from 'node:net';
import type tls from 'node:tls';
import type { TargetObservation } from '../types.js';
import { exchangeWithDifferential, handshakeWithDifferential } from './differential.js';
import { checkPage, needsPageCheck } from './page-check.js';
import {
  defaultPort,
  enforcePolicy,
  hostOf,
  pathOf,
  resolve,
  type TargetProbeOptions,
} from './probe-context.js';
import { followRedirects } from './redirects.js';
import { probeTcp, type TcpProbeResult } from './tcp.js';
import { followUpTlsFailure } from './tls-follow-up.js';
import { remainingMs } from './util.js';

export { type TargetProbeOptions, TargetRefusedError } from './probe-context.js';

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

/**
 * TCP to the addresses the way browsers connect (Happy Eyeballs), the next phases on the first socket that
 * connected, then the outcomes of the attempts that were still running (bounded in tcp.ts).
 */
async function probeConnection(
  addresses: string[],
  observation: TargetObservation,
  options: TargetProbeOptions,
): Promise<void> {
  for (const address of addresses) enforcePolicy(address, options);
  const timeoutMs = remainingMs(options.deadlineMs, 1);
  const tcp = await probeTcp({ addresses, port: observation.port, timeoutMs, signal: options.signal });
  observation.tcp = tcp.outcomes;
  try {
    await probeOnSocket(tcp, observation, options);
  } finally {
    observation.tcp = await tcp.allOutcomes;
  }
}

/** TLS, HTTP, the differential retry and redirects on the socket that connected first. */
async function probeOnSocket(
  tcp: TcpProbeResult,
  observation: TargetObservation,
  options: TargetProbeOptions,
): Promise<void> {
  const { url } = options;
  const { scheme, host, port, isIpLiteral, notes } = observation;
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
    const handshake = await handshakeWithDifferential(
      { socket: tcp.socket, address, servername: isIpLiteral ? null : host, port },
      options,
    );
    observation.tls = handshake.result.observation;
    if (!handshake.result.socket) {
      observation.differential = handshake.differential;
      const followUp = await followUpTlsFailure(observation.tls, port, options);
      if (followUp) observation.tls.followUp = followUp;
      notes.push('the TLS handshake failed: HTTP was not attempted');
      return;
    }
    socket = handshake.result.socket;
    tlsMs = handshake.result.observation.handshakeMs;
  }

  const { first, differential } = await exchangeWithDifferential(
    {
      scheme,
      address,
      port,
      hostHeader: host,
      servername: isIpLiteral ? null : host,
      path: pathOf(url),
      socket,
      socketTimings: { connectMs, tlsMs },
      isConnectionKept: true,
      dnsMs: observation.dns?.durationMs,
      ca: options.ca,
      maxBodyBytes: options.maxBodyBytes,
      isBodyKept: options.isBodyKept === true,
      signal: options.signal,
      isAddressAllowed: options.isAddressAllowed,
      probeStartedMs: options.probeStartedMs,
    },
    url,
    options,
  );
  observation.differential = differential;
  observation.http = await followRedirects(first, url, options);
  const final = observation.http.hops.at(-1)?.exchange;
  if (!isIpLiteral && needsPageCheck(final)) {
    const pageCheck = await checkPage(final, observation.dns, options);
    if (pageCheck) observation.pageCheck = pageCheck;
  }
}
