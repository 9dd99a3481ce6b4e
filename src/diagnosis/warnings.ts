// Warnings: degraded paths that did not decide the verdict, from the observations (a pure function, like classify).
import type { ConnectOutcome, TargetObservation, Warning } from '../types.js';
import { describeConnect } from './describe.js';

/** The closed list of warning codes (docs/causes.md, "Warnings"). */
export const warningCodes = ['path.address_unreachable'] as const;
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
  return [...addressUnreachable(target)];
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
