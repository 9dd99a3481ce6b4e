// DNS probe: raw A/AAAA queries (dns-packet) to each resolver in parallel, watching for injected extra replies.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import {
  type DnsAnswer,
  type DnsCanary,
  type DnsExtraReply,
  type DnsObservation,
  type DnsQueryResult,
  type DnsRecordType,
  type DnsResolverResult,
  policyBlockCodes,
  type ResolverSpec,
} from '../types.js';
import { isBogon, isLocalName } from './addresses.js';
import { extendedErrorsOf } from './dns-extended-errors.js';
import { addressesOf, followCnames, maxCnameHops, toAnswer } from './dns-records.js';
import {
  isEdnsRefused,
  type QueryAttempt,
  queryTcp,
  queryUdp,
  type TcpQueryFailure,
  type TransportOptions,
} from './dns-transport.js';
import { elapsedSince } from './util.js';

// CommonJS, loaded with require rather than import: no export lexing at start-up (docs/architecture.md).
const { getDomain } = createRequire(import.meta.url)('tldts') as typeof import('tldts');

export interface DnsProbeOptions {
  name: string;
  resolvers: ResolverSpec[];
  /** Per attempt; one retry follows a timeout. */
  attemptTimeoutMs: number;
  /** How long to keep listening after the first reply for a second, injected one. */
  injectionWindowMs: number;
  signal: AbortSignal;
}

export function formatResolver(resolver: ResolverSpec): string {
  return net.isIPv6(resolver.host)
    ? `[${resolver.host}]:${resolver.port}`
    : `${resolver.host}:${resolver.port}`;
}

/** The nameservers of /etc/resolv.conf, the default when the user names none. */
const resolvConfCache = new Map<string, { readAtMs: number; resolvers: ResolverSpec[] }>();
const resolvConfMaxAgeMs = 5000;

/**
 * The nameservers of /etc/resolv.conf. Read at most every few seconds (a service probes often; the file
 * rarely changes, and a change is picked up soon after).
 */
export function systemResolvers(path = '/etc/resolv.conf'): ResolverSpec[] {
  const now = performance.now();
  const cached = resolvConfCache.get(path);
  if (cached && now - cached.readAtMs < resolvConfMaxAgeMs) return cached.resolvers;
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    text = '';
  }
  const resolvers: ResolverSpec[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    const host = match?.[1]?.replace(/%.*$/, '');
    if (host && net.isIP(host)) resolvers.push({ host, port: 53 });
  }
  resolvConfCache.set(path, { readAtMs: now, resolvers });
  return resolvers;
}

export interface DnsProbeResult {
  observation: DnsObservation;
  /**
   * Settles when every injection window has closed, after adding the late replies to the observation's
   * queries. The probe goes on with the first replies meanwhile and awaits this before it reports.
   */
  lateReplies: Promise<void>;
}

export async function probeDns(options: DnsProbeOptions): Promise<DnsProbeResult> {
  const started = performance.now();
  const windows: Promise<void>[] = [];
  const resolvers = await Promise.all(
    options.resolvers.map(async (resolver): Promise<DnsResolverResult> => {
      const queries = await Promise.all(
        (['A', 'AAAA'] as const).map((type) => resolveType(resolver, options.name, type, options, windows)),
      );
      return { resolver: formatResolver(resolver), queries };
    }),
  );
  const canary = await askCanary(options, resolvers, windows);
  const observation: DnsObservation = {
    name: options.name,
    isLocalName: isLocalName(options.name),
    resolvers,
    addresses: [],
    ...(canary ? { nxdomainCanary: canary } : {}),
    durationMs: elapsedSince(started),
  };
  observation.addresses = chooseAddresses(observation);
  return { observation, lateReplies: Promise.all(windows).then(() => undefined) };
}

/** Every query of the resolver (A and AAAA) said the name does not exist. */
export function isNxdomainAnswer(result: DnsResolverResult): boolean {
  return result.queries.length > 0 && result.queries.every((query) => query.outcome === 'nxdomain');
}

/**
 * When some resolvers say NXDOMAIN and others answer, asks each answering resolver for a made-up name under
 * the same registrable domain: the evidence that tells a resolver inventing answers for names that do not
 * exist from one that denies a name that does.
 */
async function askCanary(
  options: DnsProbeOptions,
  resolvers: DnsResolverResult[],
  windows: Promise<void>[],
): Promise<DnsCanary | undefined> {
  if (isLocalName(options.name) || !resolvers.some(isNxdomainAnswer)) return undefined;
  const answering = options.resolvers.filter((_resolver, index) => {
    const result = resolvers[index];
    return result?.queries.some((query) => query.addresses.length > 0) === true;
  });
  if (answering.length === 0) return undefined;
  const domain = getDomain(options.name, { allowPrivateDomains: true }) ?? options.name;
  const name = `reach-canary-${randomBytes(6).toString('hex')}.${domain}`;
  const results = await Promise.all(
    answering.map(async (resolver) => {
      const query = await resolveType(resolver, name, 'A', options, windows);
      return { resolver: formatResolver(resolver), outcome: query.outcome, addresses: query.addresses };
    }),
  );
  return { name, results };
}

/**
 * The addresses to connect to: the union of every resolver's answers, except that when some resolvers
 * answer bogons and others answer public addresses, the bogon side is left out (it is the suspect one),
 * that a resolver caught inventing an answer for a made-up name (the NXDOMAIN canary) is left out, and so is one
 * that says it blocks the name (RFC 8914: Blocked, Censored, Filtered, Forged Answer).
 */
export function chooseAddresses(observation: DnsObservation): string[] {
  const rewriters = new Set(
    observation.nxdomainCanary?.results
      .filter((result) => result.addresses.length > 0)
      .map((result) => result.resolver) ?? [],
  );
  // A resolver that says it blocks the name (an Extended DNS Error) answers with its own address, not the site's.
  const perResolver = observation.resolvers.map((r) =>
    rewriters.has(r.resolver) ||
    r.queries.some((q) => q.extendedErrors?.some((e) => policyBlockCodes.has(e.code)))
      ? []
      : r.queries.flatMap((q) => q.addresses),
  );
  const clean = perResolver.filter((addresses) => addresses.length > 0 && !addresses.some((a) => isBogon(a)));
  const hasBogonSide = perResolver.some((addresses) => addresses.some((a) => isBogon(a)));
  const chosen = hasBogonSide && clean.length > 0 && !observation.isLocalName ? clean : perResolver;
  const unique = [...new Set(chosen.flat())];
  // IPv4 first: it is what most failing paths are about, and it keeps the order stable for the HTTP phase.
  return [...unique.filter((a) => net.isIPv4(a)), ...unique.filter((a) => net.isIPv6(a))];
}

async function resolveType(
  resolver: ResolverSpec,
  name: string,
  type: DnsRecordType,
  options: DnsProbeOptions,
  windows: Promise<void>[],
): Promise<DnsQueryResult> {
  const started = performance.now();
  const answers: DnsAnswer[] = [];
  const cnameChain: string[] = [];
  const extraReplies: DnsExtraReply[] = [];
  let attempts = 0;
  let isTruncatedRetriedOverTcp = false;
  let queryName = name;
  let transport: TransportOptions = options;

  for (let hop = 0; hop < maxCnameHops; hop++) {
    let attempt: QueryAttempt = { kind: 'timeout' };
    for (let tries = 0; tries < 2 && !options.signal.aborted; tries++) {
      attempts++;
      attempt = await queryUdp(resolver, queryName, type, transport);
      if (attempt.kind !== 'timeout') break;
    }
    // A server too old for EDNS answers its OPT record with FORMERR: asked once more without it.
    if (attempt.kind === 'reply' && transport === options && isEdnsRefused(attempt.first.packet)) {
      transport = { ...options, isWithoutEdns: true };
      attempts++;
      attempt = await queryUdp(resolver, queryName, type, transport);
    }
    const base = { type, answers, cnameChain, attempts, isTruncatedRetriedOverTcp, extraReplies };
    if (attempt.kind === 'timeout') {
      return { ...base, outcome: 'timeout', addresses: [], bogons: [], latencyMs: elapsedSince(started) };
    }
    if (attempt.kind === 'error') {
      return {
        ...base,
        outcome: 'error',
        addresses: [],
        bogons: [],
        latencyMs: elapsedSince(started),
        errno: attempt.errno,
        message: attempt.message,
      };
    }
    let reply = attempt.first;
    let tcpFailure: TcpQueryFailure | undefined;
    if (attempt.isTruncated) {
      const overTcp = await queryTcp(resolver, queryName, type, transport);
      if ('packet' in overTcp) {
        reply = overTcp;
        isTruncatedRetriedOverTcp = true;
      } else {
        tcpFailure = overTcp;
      }
    }
    const latencyMs = elapsedSince(started);
    const firstAtMs = attempt.first.atMs;
    windows.push(
      attempt.extras.then((extras) => {
        for (const extra of extras) {
          extraReplies.push({
            rcode: extra.packet.rcode ?? 'UNKNOWN',
            addresses: addressesOf(extra.packet, type),
            afterFirstMs: Math.round(extra.atMs - firstAtMs),
          });
        }
      }),
    );
    const rcode = reply.packet.rcode ?? 'UNKNOWN';
    for (const record of reply.packet.answers ?? []) answers.push(toAnswer(record));
    const followed = followCnames(reply.packet, queryName, type);
    cnameChain.push(...followed.cnames);
    const extendedErrors = extendedErrorsOf(reply.packet);
    const result = {
      ...base,
      isTruncatedRetriedOverTcp,
      rcode,
      latencyMs,
      ...(extendedErrors.length > 0 ? { extendedErrors } : {}),
    };
    if (rcode === 'NXDOMAIN') return { ...result, outcome: 'nxdomain', addresses: [], bogons: [] };
    if (rcode === 'SERVFAIL') return { ...result, outcome: 'servfail', addresses: [], bogons: [] };
    if (rcode === 'REFUSED') return { ...result, outcome: 'refused', addresses: [], bogons: [] };
    if (rcode !== 'NOERROR') return { ...result, outcome: 'other_rcode', addresses: [], bogons: [] };
    // Too large for UDP, and the retry over TCP failed: an empty truncated reply says nothing of the name.
    if (tcpFailure && followed.addresses.length === 0) {
      return {
        ...result,
        outcome: 'truncated',
        addresses: [],
        bogons: [],
        errno: tcpFailure.errno ?? tcpFailure.kind,
        message: `the reply over UDP was truncated (TC) and the query over TCP failed (${tcpFailure.errno ?? tcpFailure.kind})`,
      };
    }
    if (followed.addresses.length > 0) {
      const bogons = isLocalName(name) ? [] : followed.addresses.filter((a) => isBogon(a));
      return { ...result, outcome: 'answer', addresses: followed.addresses, bogons };
    }
    // A CNAME whose target the resolver did not resolve for us: ask for the target.
    if (followed.cnames.length > 0 && followed.finalName !== queryName) {
      queryName = followed.finalName;
      continue;
    }
    return { ...result, outcome: 'nodata', addresses: [], bogons: [] };
  }
  return {
    type,
    outcome: 'error',
    answers,
    cnameChain,
    addresses: [],
    bogons: [],
    attempts,
    isTruncatedRetriedOverTcp,
    extraReplies,
    latencyMs: elapsedSince(started),
    message: `more than ${maxCnameHops} CNAME hops`,
  };
}
