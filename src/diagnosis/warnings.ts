// Warnings: degraded paths that did not decide the verdict, from the observations (a pure function, like classify).
import { type ConnectOutcome, staleAnswerCodes, type TargetObservation, type Warning } from '../types.js';
import { describeConnect, describeDns, describeExtendedError } from './describe.js';
import { extendedErrorsIn } from './facts.js';
import { headerName, readPageEvidence } from './page-evidence.js';

/** The closed list of warning codes (docs/causes.md, "Warnings"). */
export const warningCodes = ['path.address_unreachable', 'http.page_differs', 'dns.stale_answer'] as const;
export type WarningCode = (typeof warningCodes)[number];

type ConnectFailure = Exclude<ConnectOutcome, { kind: 'connected' }>;

/** Failures that say the address itself, or the path to it, is broken (not our policy, not our deadline). */
const deadAddressKinds = new Set<ConnectOutcome['kind']>([
  'timeout',
  'refused',
  'reset',
  'host_unreachable',
  'net_unreachable',
]);

export function warningsOf(target: TargetObservation): Warning[] {
  return [...addressUnreachable(target), ...pageDiffers(target), ...staleAnswer(target)];
}

/**
 * A resolver answered from its cache because it could not reach the name's servers (RFC 8767 serve-stale, said
 * by EDE 3 Stale Answer or 19 Stale NXDOMAIN Answer): the site works through the old answer, while DNS for it
 * is failing. Once the cache runs out, or for a resolver that kept nothing, the name stops resolving.
 */
function staleAnswer(target: TargetObservation): Warning[] {
  const dns = target.dns;
  if (!dns) return [];
  const stale = dns.resolvers.filter((resolver) =>
    resolver.queries.some((query) => extendedErrorsIn(query, staleAnswerCodes).length > 0),
  );
  if (stale.length === 0) return [];
  const reasons = [
    ...new Set(
      stale.flatMap((resolver) =>
        resolver.queries.flatMap((query) =>
          extendedErrorsIn(query, staleAnswerCodes).map(describeExtendedError),
        ),
      ),
    ),
  ];
  const names = stale.map((resolver) => resolver.resolver).join(' and ');
  return [
    {
      code: 'dns.stale_answer' satisfies WarningCode,
      summary: `${names} answered ${dns.name} from ${stale.length > 1 ? 'their' : 'its'} cache (${reasons.join('; ')}): the resolver could not reach the domain's name servers. The site works through the old answer, but its DNS is failing; when the cached answer runs out, or for resolvers that kept none, the name will not resolve.`,
      evidence: describeDns(dns).filter((line) => line.includes('Stale')),
    },
  ];
}

/**
 * The plain-http page for the name differs from the server's other answers in a way a real server rarely
 * shows, but not enough to say a filter forged it (the forged-page rule says so when it is): one odd sign, or
 * another resolver's address serving another page (CDNs and geo-DNS do that too).
 */
function pageDiffers(target: TargetObservation): Warning[] {
  const page = readPageEvidence(target);
  if (page?.strength !== 'thin') return [];
  const name = page.final.hostHeader;
  const signs = [
    ...(page.missingHeaders.length > 0
      ? [
          `it lacks the ${page.missingHeaders.map(headerName).join(' and ')} header the same server sends for a neutral Host`,
        ]
      : []),
    ...(page.isResetAfterFin ? ['after it closed, more data came on the connection'] : []),
    ...page.differentElsewhere.map(
      (other) => `${other.address}, an address another resolver gives, serves another page (${other.status})`,
    ),
  ];
  return [
    {
      code: 'http.page_differs' satisfies WarningCode,
      summary: `The page for ${name} from ${page.final.address} differs from the server's other answers: ${signs.join('; ')}. This alone does not show a filter (another vhost, a CDN or geo-DNS can do it); if the page is not the site's, probe from another network.`,
      evidence: page.evidence,
    },
  ];
}

/**
 * An address of the name that failed to connect while another connected: browsers and curl race the
 * addresses and never notice, but a client that tries that address first waits or fails.
 */
function addressUnreachable(target: TargetObservation): Warning[] {
  const used = usedAddress(target);
  const reached = target.tcp.find((o) => o.kind === 'connected' && o.address === used);
  if (!reached) return [];
  const dead = target.tcp.filter((o): o is ConnectFailure => deadAddressKinds.has(o.kind));
  return dead.map((failure) => ({
    code: 'path.address_unreachable' satisfies WarningCode,
    summary: `${familyName(failure)} address ${failure.address} ${whatHappened(failure)}; the site was reached over ${familyName(reached)} ${reached.address}. ${consequence(failure, reached)}`,
    evidence: [describeConnect(failure), describeConnect(reached)],
  }));
}

/** The address the exchange went over: the first hop's, else the first that connected. */
function usedAddress(target: TargetObservation): string | undefined {
  const hopAddress = target.http?.hops[0]?.exchange.address;
  if (hopAddress && target.tcp.some((o) => o.kind === 'connected' && o.address === hopAddress)) {
    return hopAddress;
  }
  return target.tcp.find((o) => o.kind === 'connected')?.address;
}

function familyName(outcome: ConnectOutcome): string {
  return outcome.family === 6 ? 'IPv6' : 'IPv4';
}

function whatHappened(failure: ConnectFailure): string {
  const errno = failure.errno ? ` (${failure.errno})` : '';
  switch (failure.kind) {
    case 'timeout':
      return 'did not answer';
    case 'refused':
      return `refused the connection on port ${failure.port}${errno}`;
    case 'reset':
      return `reset the connection on port ${failure.port}${errno}`;
    default:
      return `is unreachable from here${errno}`;
  }
}

/**
 * What a client that does not race the addresses meets. Browsers race the two families (IPv6 first), but
 * within one family curl and Chromium try one address after another, each until its connect timeout.
 */
function consequence(failure: ConnectFailure, reached: ConnectOutcome): string {
  if (failure.kind !== 'timeout')
    return 'Clients that try it first get an error unless they try the other addresses.';
  return failure.family === reached.family
    ? 'Clients that try it first wait for their connect timeout before trying another address.'
    : 'Clients without Happy Eyeballs may hang.';
}
