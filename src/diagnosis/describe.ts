// Plain-words descriptions of observations, cited as evidence by the classifier's rules.

import type {
  ConnectOutcome,
  DnsExtendedError,
  DnsObservation,
  HttpExchange,
  TlsFollowUp,
  TlsObservation,
} from '../types.js';

export function describeDns(dns: DnsObservation): string[] {
  return dns.resolvers.flatMap((resolver) =>
    resolver.queries.map((query) => {
      const head = `dns: ${resolver.resolver} ${query.type} ${dns.name}`;
      const reasons = query.extendedErrors?.length
        ? `, ${query.extendedErrors.map(describeExtendedError).join(', ')}`
        : '';
      switch (query.outcome) {
        case 'answer':
          return `${head} → ${query.addresses.join(', ')} (${query.latencyMs} ms${query.bogons.length ? `; bogon: ${query.bogons.join(', ')}` : ''}${reasons})`;
        case 'timeout':
          return `${head} → no reply after ${query.attempts} attempts (${query.latencyMs} ms)`;
        case 'error':
          return `${head} → ${query.errno ?? 'error'}: ${query.message ?? ''}`.trim();
        case 'truncated':
          return `${head} → ${query.message ?? 'truncated, and the query over TCP failed'} (${query.latencyMs} ms${reasons})`;
        default:
          return `${head} → ${query.rcode ?? query.outcome} (${query.outcome}, ${query.latencyMs} ms${reasons})`;
      }
    }),
  );
}

export function describeConnect(outcome: ConnectOutcome): string {
  if (outcome.kind === 'connected')
    return `tcp: ${outcome.address}:${outcome.port} connected in ${outcome.connectMs} ms`;
  if (outcome.kind === 'not_attempted')
    return `tcp: ${outcome.address}:${outcome.port} not attempted${outcome.message ? ` (${outcome.message})` : ''}`;
  const errno = outcome.errno ? ` (${outcome.errno})` : '';
  return `tcp: ${outcome.address}:${outcome.port} ${outcome.kind.replace('_', ' ')}${errno} after ${outcome.elapsedMs} ms`;
}

export function describeTls(tls: TlsObservation): string {
  const sni = tls.servername ? `SNI ${tls.servername}` : 'no SNI';
  if (tls.outcome !== 'established') {
    return `tls: handshake with ${tls.address} (${sni}) ${tls.outcome}${tls.errno ? ` (${tls.errno})` : ''} after ${tls.handshakeMs} ms, ${tls.bytesSent} bytes sent`;
  }
  const cert = tls.certificate;
  const trust = tls.isTrusted ? 'trusted' : `not trusted: ${tls.verifyError}`;
  return `tls: ${tls.protocol ?? 'TLS'} with ${tls.address} (${sni}) in ${tls.handshakeMs} ms; certificate ${cert?.subject ?? '?'} valid to ${cert?.validTo ?? '?'}, ${trust}`;
}

export function describeTlsFollowUp(followUp: TlsFollowUp): string {
  if (followUp.kind === 'legacy_handshake') {
    const result =
      followUp.outcome === 'established'
        ? `handshake completed with ${followUp.protocol ?? 'TLS'}${followUp.cipher ? ` (${followUp.cipher})` : ''}`
        : `${followUp.outcome}${followUp.errno ? ` (${followUp.errno})` : ''}`;
    return `tls: a handshake that also offers TLS 1.0, 1.1 and old ciphers, on a new connection: ${result}`;
  }
  const result =
    followUp.outcome === 'response'
      ? `answered ${JSON.stringify(followUp.statusLine ?? followUp.replyPrefix.slice(0, 40))}`
      : `${followUp.outcome.replace('_', ' ')}${followUp.errno ? ` (${followUp.errno})` : ''}`;
  return `tls: a plain-text HTTP request (HEAD /) to the same port, on a new connection: ${result}`;
}

export function describeExchange(exchange: HttpExchange): string {
  const where = `GET ${exchange.url} via ${exchange.address}`;
  if (exchange.outcome === 'response') {
    const location = exchange.headers.location ? ` → ${exchange.headers.location}` : '';
    const retryAfter = exchange.headers.retryAfter ? ` (Retry-After: ${exchange.headers.retryAfter})` : '';
    const firstByte =
      exchange.timings.firstByteMs === undefined
        ? ''
        : `, first byte after ${exchange.timings.firstByteMs} ms`;
    return `http: ${where}: ${exchange.status}${location}${retryAfter}${firstByte}`;
  }
  const sent = exchange.isRequestSent
    ? `after our request went out (${exchange.bytesSent} bytes)`
    : 'before our request went out';
  const errno = exchange.errno ? ` (${exchange.errno})` : '';
  return `http: ${where}: ${exchange.outcome.replace('_', ' ')}${errno} ${sent}, ${exchange.timings.totalMs} ms`;
}

/** "EDE 15 Blocked: gravity", the way evidence and summaries quote one. */
export function describeExtendedError(error: DnsExtendedError): string {
  const name = error.name ?? 'unregistered code';
  return `EDE ${error.code} ${name}${error.text ? `: "${error.text}"` : ''}`;
}
