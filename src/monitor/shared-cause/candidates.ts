// The shared causes a failing run could be part of, read from its report's cause, code and evidence (the
// resolvers that failed, the addresses that did not answer): never from the words of its summary.
import { isIP } from 'node:net';
import type { DnsQueryOutcome, Report } from '../../types.js';

/**
 * - `local`: the prober's own network fails (cause local_network) at one vantage;
 * - `resolver`: the same resolvers fail (SERVFAIL, REFUSED, no answer) for names at one vantage;
 * - `range`: connects to addresses in one /24 (IPv4) or /48 (IPv6) fail with the same code at one vantage;
 * - `code`: the same cause and code at one vantage, whatever the target (needs a large share of the monitors).
 */
export const sharedCauseKinds = ['local', 'resolver', 'range', 'code'] as const;
export type SharedCauseKind = (typeof sharedCauseKinds)[number];

export interface SharedCauseCandidate {
  kind: SharedCauseKind;
  /** Names the cause: runs with the same key have the same cause. Also the Redis field it is grouped under. */
  key: string;
  /** The vantage that saw it; `serviceVantage` for the service's own workers. */
  vantage: string;
  cause: string;
  code: string;
  /** For `resolver`: the resolvers that failed, as the report names them (address:port). */
  resolvers?: string[];
  /** For `range`: the prefix, such as 203.0.113.0/24 or 2001:db8:1::/48. */
  range?: string;
  /**
   * A cause on the prober's side or upstream of many sites (local, resolver, range): the site's own alert is held
   * for the hold time, so that a burst's first failures do not page before the shared incident opens.
   */
  isProberSide: boolean;
}

/** The vantage name of runs made by the service's own workers (a vantage's name cannot start with "@"). */
export const serviceVantage = '@service';

const resolverFailureCodes = new Set(['dns.servfail', 'dns.timeout', 'dns.refused']);
const failedResolverOutcomes = new Set<DnsQueryOutcome>(['servfail', 'refused', 'timeout', 'error']);
const connectionCodes = new Set([
  'tcp.timeout',
  'tcp.unreachable',
  'tcp.refused',
  'tcp.error',
  'filter.blackhole',
]);

/** The candidates of one report seen from one vantage, most specific first; none for a report that is ok. */
export function sharedCausesOf(report: Report, vantage: string): SharedCauseCandidate[] {
  const { cause, code } = report.verdict;
  if (cause === 'ok') return [];
  const common = { vantage, cause, code };
  const generic: SharedCauseCandidate = {
    ...common,
    kind: 'code',
    key: keyOf(['code', vantage, cause, code]),
    isProberSide: false,
  };
  // Every local_network code is one fault, the network the prober runs on: no route, no control, a portal.
  if (cause === 'local_network')
    return [{ ...common, kind: 'local', key: keyOf(['local', vantage]), isProberSide: true }];
  if (resolverFailureCodes.has(code)) {
    const resolvers = failedResolversOf(report);
    if (resolvers.length === 0) return [generic];
    return [
      {
        ...common,
        kind: 'resolver',
        key: keyOf(['resolver', vantage, code, ...resolvers]),
        resolvers,
        isProberSide: true,
      },
      generic,
    ];
  }
  if (connectionCodes.has(code)) {
    const ranges = failedRangesOf(report);
    return [
      ...ranges.map(
        (range): SharedCauseCandidate => ({
          ...common,
          kind: 'range',
          key: keyOf(['range', vantage, code, range]),
          range,
          isProberSide: true,
        }),
      ),
      generic,
    ];
  }
  return [generic];
}

/** The resolvers every one of whose queries failed, sorted: the same set of failing resolvers is one cause. */
function failedResolversOf(report: Report): string[] {
  const results = report.target.dns?.resolvers ?? [];
  return results
    .filter(
      (result) =>
        result.queries.length > 0 &&
        result.queries.every((query) => failedResolverOutcomes.has(query.outcome)),
    )
    .map((result) => result.resolver)
    .sort();
}

/** The /24 or /48 of every address whose connect failed (not those never tried), sorted. */
function failedRangesOf(report: Report): string[] {
  const ranges = new Set<string>();
  for (const outcome of report.target.tcp) {
    if (
      outcome.kind === 'connected' ||
      outcome.kind === 'not_attempted' ||
      outcome.kind === 'refused_by_policy'
    )
      continue;
    const range = rangeOf(outcome.address);
    if (range) ranges.add(range);
  }
  return [...ranges].sort();
}

/** 203.0.113.7 → 203.0.113.0/24; 2001:db8:1:2::5 → 2001:db8:1::/48; undefined for anything else. */
export function rangeOf(address: string): string | undefined {
  const version = isIP(address);
  if (version === 4) return `${address.split('.').slice(0, 3).join('.')}.0/24`;
  if (version !== 6) return undefined;
  const groups = expandIpv6(address);
  if (!groups) return undefined;
  const head = groups.slice(0, 3).map((group) => Number.parseInt(group, 16).toString(16));
  return `${head.join(':')}::/48`;
}

function expandIpv6(address: string): string[] | undefined {
  const bare = address.split('%')[0] ?? address;
  // An IPv4 tail (::ffff:192.0.2.1) counts as two groups; only the first three groups matter here.
  const [head = '', tail] = bare.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  if (tail === undefined) return headGroups.length >= 3 ? headGroups : undefined;
  const missing = Math.max(0, 8 - headGroups.length - tailGroups.length);
  return [...headGroups, ...Array.from({ length: missing }, () => '0'), ...tailGroups];
}

/** Parts joined by a separator no part can hold (vantage names, codes, addresses and ports have no "|"). */
function keyOf(parts: string[]): string {
  return parts.join('|');
}

/** The same cause, in a few words, for incident names and messages. */
export function describeSharedCause(candidate: Omit<SharedCauseCandidate, 'key' | 'isProberSide'>): string {
  const where = candidate.vantage === serviceVantage ? 'this service' : `vantage ${candidate.vantage}`;
  if (candidate.kind === 'local') return `The network ${where} monitors from is failing (${candidate.code})`;
  if (candidate.kind === 'resolver')
    return `Resolver ${candidate.resolvers?.join(', ') ?? ''} fails for every name (${candidate.code}), seen from ${where}`;
  if (candidate.kind === 'range')
    return `Addresses in ${candidate.range ?? ''} do not answer (${candidate.code}), seen from ${where}`;
  return `Many monitors fail with ${candidate.code} (${candidate.cause}), seen from ${where}`;
}
