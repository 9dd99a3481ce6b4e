// Rules that blame the prober's own network or machine: no route, its resources exhausted, or every control failing
// too.

import type { TargetObservation } from '../types.js';
import { describeConnect, describeExchange } from './describe.js';
import { connectFailures, exhaustionErrnoOf, isDnsNoRoute, isNetworkLevelFailure } from './facts.js';
import type { Rule } from './verdict.js';
import {
  allControlsFailed,
  controlEvidence,
  dnsEvidence,
  hasControls,
  someControlReachable,
  verdict,
} from './verdict.js';

const exhaustionSays: Record<string, string> = {
  EMFILE: 'ran out of open files for this process (EMFILE)',
  ENFILE: 'ran out of open files for the whole system (ENFILE)',
  ENOBUFS: 'ran out of network buffer space (ENOBUFS)',
  ENOMEM: 'ran out of memory for a socket (ENOMEM)',
};

/**
 * The probe failed on this machine's own limits before reaching the site: a socket or a query refused locally for
 * want of file descriptors, buffers or memory (a batch or a worker running more probes at once than `ulimit -n`
 * allows). Whatever the site does, it was not asked; blaming it would be false.
 */
export const localResourcesExhausted: Rule = {
  name: 'local-resources-exhausted',
  apply: (obs) => {
    const { target } = obs;
    const errno = exhaustionErrnoOf(target);
    if (errno === undefined) return undefined;
    const hops = target.http?.hops;
    // The site answered in the end (a side request or a second address met the limit): not this rule's case.
    if (hops?.[hops.length - 1]?.exchange.outcome === 'response') return undefined;
    return verdict({
      cause: 'local_network',
      code: 'local.resources_exhausted',
      confidence: 0.95,
      summary: `This machine ${exhaustionSays[errno] ?? `ran out of resources (${errno})`} before the probe reached the site: the result says nothing about the site. Probe fewer URLs at once (--concurrency, WORKER_CONCURRENCY) or raise the limit (ulimit -n).`,
      evidence: [
        ...dnsEvidence(obs).filter((line) => line.includes(errno)),
        ...target.tcp
          .filter((outcome) => outcome.kind !== 'connected' && outcome.errno === errno)
          .map(describeConnect),
        ...(target.http?.hops ?? [])
          .filter((hop) => hop.exchange.errno === errno)
          .map((hop) => describeExchange(hop.exchange)),
      ],
    });
  },
};

export const localNoRoute: Rule = {
  name: 'local-no-route',
  apply: (obs) => {
    const { target } = obs;
    const tcpFailures = connectFailures(target.tcp);
    const isTcpNoRoute =
      target.tcp.length > 0 &&
      tcpFailures.length === target.tcp.length &&
      tcpFailures.every((o) => o.kind === 'net_unreachable');
    if (!isDnsNoRoute(target.dns) && !isTcpNoRoute) return undefined;
    if (someControlReachable(obs)) return undefined;
    return verdict({
      cause: 'local_network',
      code: 'local.no_route',
      confidence: hasControls(obs) ? 0.9 : 0.75,
      summary:
        'This machine has no route to the network: its own connection or routing is down, not the site.',
      evidence: [...dnsEvidence(obs), ...target.tcp.map(describeConnect), ...controlEvidence(obs)],
    });
  },
};

/**
 * Every address of the site is IPv6, and each connect failed at once with ENETUNREACH (this machine has no IPv6
 * route; a router's ICMPv6 "no route" comes back as EHOSTUNREACH), while IPv4 works: a control answers, or an
 * IPv4 resolver answered the name. The network lacks IPv6, and the site lacks IPv4. Neither is down. Read before
 * local-no-route, which would call the whole network down.
 */
export const localNoIpv6Route: Rule = {
  name: 'local-no-ipv6-route',
  apply: (obs) => {
    const { target } = obs;
    const failures = connectFailures(target.tcp);
    const isIpv6Only = target.tcp.length > 0 && target.tcp.every((o) => o.family === 6);
    if (!isIpv6Only || failures.length !== target.tcp.length) return undefined;
    if (!failures.every((o) => o.kind === 'net_unreachable' && o.errno === 'ENETUNREACH')) return undefined;
    const isControlReachable = someControlReachable(obs);
    // A resolver's string is bracketed for IPv6 (formatResolver): any other that answered did so over IPv4.
    const isIpv4ResolverAnswering =
      target.dns?.resolvers.some(
        (r) =>
          !r.resolver.startsWith('[') &&
          r.queries.some((q) => q.outcome !== 'timeout' && q.outcome !== 'error'),
      ) === true;
    if (!isControlReachable && (hasControls(obs) || !isIpv4ResolverAnswering)) return undefined;
    const ipv4Evidence = isControlReachable
      ? 'other sites answer over IPv4'
      : 'the resolver answered over IPv4';
    return verdict({
      cause: 'local_network',
      code: 'local.no_ipv6_route',
      confidence: isControlReachable ? 0.8 : 0.7,
      summary: `${target.host} has IPv6 addresses only, and this network has no IPv6 route (every connect failed at once with ENETUNREACH) while ${ipv4Evidence}: the site is not down, it cannot be reached from an IPv4-only network. This network needs IPv6, or the site an IPv4 address.`,
      evidence: [...dnsEvidence(obs), ...target.tcp.map(describeConnect), ...controlEvidence(obs)],
    });
  },
};

export const localControlsFailed: Rule = {
  name: 'local-controls-failed',
  apply: (obs) => {
    if (!allControlsFailed(obs) || !isNetworkLevelFailure(obs.target)) return undefined;
    return verdict({
      cause: 'local_network',
      code: 'local.controls_unreachable',
      confidence: 0.75,
      summary:
        'The site and every known-good control failed at the network level: the problem is most likely the network this probe runs from.',
      evidence: [...controlEvidence(obs), ...dnsEvidence(obs), ...obs.target.tcp.map(describeConnect)],
    });
  },
};

/** Where the first redirect that leaves the URL's own registrable domain points, as a host name. */
function foreignRedirectHost(target: TargetObservation): string | undefined {
  const http = target.http;
  if (!http) return undefined;
  const leaving = http.hops.find(
    (hop, index) => index > 0 && hop.registrableDomain !== http.registrableDomain,
  );
  if (!leaving) return undefined;
  try {
    return new URL(leaving.exchange.url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * The target and every control are sent to the same host on another domain: the network this probe runs on
 * intercepts web traffic and redirects it to its login page (a hotel, café or airport network). No site moves
 * itself to the same place as unrelated control sites.
 */
export const localCaptivePortal: Rule = {
  name: 'local-captive-portal',
  apply: (obs) => {
    if (!hasControls(obs)) return undefined;
    const portal = foreignRedirectHost(obs.target);
    if (portal === undefined) return undefined;
    const isEveryControlSentThere = obs.controls.every(
      (control) => foreignRedirectHost(control.target) === portal,
    );
    if (!isEveryControlSentThere) return undefined;
    const evidence = [
      ...(obs.target.http?.hops.map((hop) => describeExchange(hop.exchange)) ?? []),
      ...obs.controls.map((control) => `control: ${control.url} is redirected to ${portal} too`),
    ];
    return verdict({
      cause: 'local_network',
      code: 'local.captive_portal',
      confidence: obs.controls.length > 1 ? 0.9 : 0.8,
      summary: `This network sends every site, the controls included, to ${portal}: a captive portal (a hotel, café or guest network login page). Sign in there, or use another network; the site itself has not moved.`,
      evidence: evidence,
    });
  },
};
