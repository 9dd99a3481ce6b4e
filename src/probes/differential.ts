// The differential retry (OONI http-host/sni, Censored Planet Quack): a neutral request to the same
// address, then the original again, to tell a filter on the path from a failing server.
import net from 'node:net';
import type { DifferentialObservation, HttpExchange, TlsObservation } from '../types.js';
import { exchange } from './http.js';
import { hostOf, type TargetProbeOptions } from './probe-context.js';
import { connectOnce } from './tcp.js';
import { handshakeTls } from './tls.js';
import { remainingMs } from './util.js';

export function needsDifferential(result: HttpExchange): boolean {
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
export async function httpDifferential(
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

export async function tlsDifferential(
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
