// Derived facts about observations, shared by the classifier's rules and the evidence they cite.
import type {
  ConnectOutcome,
  DnsExtendedError,
  DnsObservation,
  DnsQueryResult,
  DnsResolverResult,
  HttpExchange,
  TargetObservation,
} from '../types.js';

export function allQueries(dns: DnsObservation | null): DnsQueryResult[] {
  return dns ? dns.resolvers.flatMap((resolver) => resolver.queries) : [];
}

const unreachableErrnos = new Set(['ENETUNREACH', 'ENETDOWN', 'EHOSTUNREACH', 'EADDRNOTAVAIL']);

export function isNoRouteErrno(errno: string | undefined): boolean {
  return errno !== undefined && unreachableErrnos.has(errno);
}

/**
 * What the prober's own machine answers when it runs out of what a socket needs: open files for this process
 * (EMFILE: `ulimit -n`) or for the whole system (ENFILE), buffer space (ENOBUFS), memory (ENOMEM). A connect or a
 * query that failed so never left the machine: it says nothing of the site.
 */
const exhaustionErrnos = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

export function isExhaustionErrno(errno: string | undefined): boolean {
  return errno !== undefined && exhaustionErrnos.has(errno);
}

/**
 * The first errno of the machine's own exhaustion met on the way to the target's answer: a DNS query, a connect,
 * the TLS handshake or an exchange of any hop; undefined when there was none.
 */
export function exhaustionErrnoOf(target: TargetObservation): string | undefined {
  for (const query of allQueries(target.dns)) if (isExhaustionErrno(query.errno)) return query.errno;
  for (const outcome of target.tcp)
    if (outcome.kind !== 'connected' && isExhaustionErrno(outcome.errno)) return outcome.errno;
  if (isExhaustionErrno(target.tls?.errno)) return target.tls?.errno;
  for (const hop of target.http?.hops ?? [])
    if (isExhaustionErrno(hop.exchange.errno)) return hop.exchange.errno;
  return undefined;
}

/** Every DNS query failed locally with "no route" (the prober's own network). */
export function isDnsNoRoute(dns: DnsObservation | null): boolean {
  const queries = allQueries(dns);
  return queries.length > 0 && queries.every((q) => q.outcome === 'error' && isNoRouteErrno(q.errno));
}

/** No resolver gave any answer at all (timeouts and socket errors only). */
export function isNoResolverAnswering(dns: DnsObservation | null): boolean {
  const queries = allQueries(dns);
  return queries.length > 0 && queries.every((q) => q.outcome === 'timeout' || q.outcome === 'error');
}

function sameSet(a: string[], b: string[]): boolean {
  const left = [...new Set(a)].sort();
  const right = [...new Set(b)].sort();
  return left.length === right.length && left.every((value, index) => value === right[index]);
}

export interface TamperingFinding {
  kind: 'injected_reply' | 'bogon_disagreement';
  detail: string;
}

/**
 * Tampering is a second, different reply to one query (an on-path injector answers first), or resolvers
 * that disagree where one side answers a bogon for a public name. A consistent bogon alone is not tampering.
 */
export function findTampering(dns: DnsObservation | null): TamperingFinding[] {
  if (!dns) return [];
  const findings: TamperingFinding[] = [];
  for (const resolver of dns.resolvers) {
    for (const query of resolver.queries) {
      for (const extra of query.extraReplies) {
        if (extra.rcode !== (query.rcode ?? '') || !sameSet(extra.addresses, query.addresses)) {
          findings.push({
            kind: 'injected_reply',
            detail: `resolver ${resolver.resolver} sent two different replies to one ${query.type} query: first ${describeReply(query.rcode, query.addresses)}, then ${describeReply(extra.rcode, extra.addresses)} ${extra.afterFirstMs} ms later`,
          });
        }
      }
    }
  }
  if (dns.isLocalName) return findings;
  const sides = dns.resolvers.map((resolver) => ({
    resolver: resolver.resolver,
    addresses: resolver.queries.flatMap((q) => q.addresses),
    bogons: resolver.queries.flatMap((q) => q.bogons),
  }));
  const bogonSides = sides.filter((side) => side.bogons.length > 0);
  const publicSides = sides.filter((side) => side.addresses.length > 0 && side.bogons.length === 0);
  for (const bogonSide of bogonSides) {
    for (const publicSide of publicSides) {
      findings.push({
        kind: 'bogon_disagreement',
        detail: `resolver ${bogonSide.resolver} answered ${bogonSide.bogons.join(', ')} (a bogon) while ${publicSide.resolver} answered ${publicSide.addresses.join(', ')}`,
      });
    }
  }
  return findings;
}

function describeReply(rcode: string | undefined, addresses: string[]): string {
  return addresses.length > 0 ? `${rcode ?? '?'} ${addresses.join(', ')}` : (rcode ?? '?');
}

export function connectFailures(tcp: ConnectOutcome[]): Exclude<ConnectOutcome, { kind: 'connected' }>[] {
  return tcp.filter((o): o is Exclude<ConnectOutcome, { kind: 'connected' }> => o.kind !== 'connected');
}

export function finalExchange(target: TargetObservation): HttpExchange | undefined {
  return target.http?.hops.at(-1)?.exchange;
}

export function firstExchange(target: TargetObservation): HttpExchange | undefined {
  return target.http?.hops[0]?.exchange;
}

/** The target failed below HTTP (no response at all), the kind of failure a broken local network causes. */
export function isNetworkLevelFailure(target: TargetObservation): boolean {
  // A resolver's NXDOMAIN, SERVFAIL or empty answer came over the network: the network works.
  const queries = allQueries(target.dns);
  const hasDnsAnswer = queries.some((q) => q.outcome !== 'timeout' && q.outcome !== 'error');
  if (target.dns && target.dns.addresses.length === 0 && hasDnsAnswer) return false;
  const final = finalExchange(target);
  if (final?.outcome === 'response') return false;
  if (target.tls?.outcome === 'established' && final === undefined) return false;
  return true;
}

export function connectMsOf(target: TargetObservation): number | undefined {
  const connected = target.tcp.find((o) => o.kind === 'connected');
  return connected?.kind === 'connected' ? connected.connectMs : undefined;
}

/** Every query of one resolver (A and AAAA) said the name does not exist. */
export function isNxdomainEverywhere(result: DnsResolverResult): boolean {
  return result.queries.length > 0 && result.queries.every((query) => query.outcome === 'nxdomain');
}

/** The query's Extended DNS Errors whose code is in `codes`. */
export function extendedErrorsIn(query: DnsQueryResult, codes: ReadonlySet<number>): DnsExtendedError[] {
  return (query.extendedErrors ?? []).filter((error) => codes.has(error.code));
}
