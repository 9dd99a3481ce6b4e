// The classifier: an ordered list of small rules from observations to one verdict (see docs/causes.md).
import type { Cause, HttpExchange, Observations, TlsObservation, Verdict } from '../types.js';
import { describeConnect, describeDns, describeExchange, describeTls } from './describe.js';
import {
  allQueries,
  connectFailures,
  connectMsOf,
  finalExchange,
  findTampering,
  firstExchange,
  isDnsNoRoute,
  isNetworkLevelFailure,
  isNoResolverAnswering,
  isNoRouteErrno,
} from './facts.js';

export type Rule = { name: string; apply: (obs: Observations) => Verdict | undefined };

function verdict(
  rule: string,
  cause: Cause,
  code: string,
  confidence: number,
  summary: string,
  evidence: string[],
): Verdict {
  return { cause, code, confidence, summary, evidence, rule };
}

const hasControls = (obs: Observations) => obs.controls.length > 0;
const someControlReachable = (obs: Observations) => obs.controls.some((c) => c.isReachable);
const allControlsFailed = (obs: Observations) => hasControls(obs) && !someControlReachable(obs);

function controlEvidence(obs: Observations): string[] {
  return obs.controls.map(
    (c) => `control: ${c.url} ${c.isReachable ? 'answered' : `failed (${c.verdict.code})`}`,
  );
}

function dnsEvidence(obs: Observations): string[] {
  return obs.target.dns ? describeDns(obs.target.dns) : [];
}

const localNoRoute: Rule = {
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
    return verdict(
      'local-no-route',
      'local_network',
      'local.no_route',
      hasControls(obs) ? 0.9 : 0.75,
      'This machine has no route to the network: its own connection or routing is down, not the site.',
      [...dnsEvidence(obs), ...target.tcp.map(describeConnect), ...controlEvidence(obs)],
    );
  },
};

const localControlsFailed: Rule = {
  name: 'local-controls-failed',
  apply: (obs) => {
    if (!allControlsFailed(obs) || !isNetworkLevelFailure(obs.target)) return undefined;
    return verdict(
      'local-controls-failed',
      'local_network',
      'local.controls_unreachable',
      0.75,
      'The site and every known-good control failed at the network level: the problem is most likely the network this probe runs from.',
      [...controlEvidence(obs), ...dnsEvidence(obs), ...obs.target.tcp.map(describeConnect)],
    );
  },
};

const dnsTampered: Rule = {
  name: 'dns-tampered',
  apply: (obs) => {
    const findings = findTampering(obs.target.dns);
    if (findings.length === 0) return undefined;
    const isInjected = findings.some((f) => f.kind === 'injected_reply');
    return verdict(
      'dns-tampered',
      'filtered_path',
      'dns.tampered',
      isInjected ? 0.9 : 0.8,
      isInjected
        ? 'DNS answers for this name are being forged on the way: a second, different reply arrived for one query, the mark of an on-path injector.'
        : 'DNS answers for this name are being tampered with: one resolver returns a private or reserved address while another returns a public one.',
      [...findings.map((f) => `dns: ${f.detail}`), ...dnsEvidence(obs)],
    );
  },
};

const dnsFailure: Rule = {
  name: 'dns-failure',
  apply: (obs) => {
    const { dns } = obs.target;
    if (!dns || dns.addresses.length > 0) return undefined;
    const queries = allQueries(dns);
    const evidence = [...dnsEvidence(obs), ...controlEvidence(obs)];
    const answered = dns.resolvers.filter((r) =>
      r.queries.some((q) => q.outcome !== 'timeout' && q.outcome !== 'error'),
    );
    const outcomes = new Set(queries.map((q) => q.outcome));
    if (answered.length > 0 && answered.every((r) => r.queries.some((q) => q.outcome === 'nxdomain'))) {
      return verdict(
        'dns-failure',
        'dns_failure',
        'dns.nxdomain',
        answered.length > 1 ? 0.95 : 0.9,
        `The name ${dns.name} does not exist (NXDOMAIN): check the spelling, or whether the domain has expired or lost its delegation.`,
        evidence,
      );
    }
    if (outcomes.has('servfail')) {
      return verdict(
        'dns-failure',
        'dns_failure',
        'dns.servfail',
        0.85,
        `Resolvers fail to resolve ${dns.name} (SERVFAIL): the domain's authoritative servers are broken or unreachable, or its DNSSEC is invalid.`,
        evidence,
      );
    }
    if (outcomes.has('refused')) {
      return verdict(
        'dns-failure',
        'dns_failure',
        'dns.refused',
        0.7,
        `The resolvers refuse to answer for ${dns.name} (REFUSED): use a resolver that serves this network.`,
        evidence,
      );
    }
    if (outcomes.has('nodata') || outcomes.has('other_rcode')) {
      return verdict(
        'dns-failure',
        'dns_failure',
        'dns.nodata',
        0.85,
        `The name ${dns.name} exists but has no IPv4 or IPv6 address (NODATA): its A/AAAA records are missing.`,
        evidence,
      );
    }
    if (isNoResolverAnswering(dns)) {
      const isControlOk = someControlReachable(obs);
      return verdict(
        'dns-failure',
        'dns_failure',
        'dns.timeout',
        isControlOk ? 0.8 : 0.55,
        isControlOk
          ? 'No resolver answered for this name while other sites work: the resolvers are down or their traffic is dropped.'
          : 'No resolver answered: the resolvers are down, their traffic is dropped, or this network is offline (add --control to tell).',
        evidence,
      );
    }
    return undefined;
  },
};

const tcpFailure: Rule = {
  name: 'tcp-failure',
  apply: (obs) => {
    const { target } = obs;
    if (target.tcp.length === 0 || target.tcp.some((o) => o.kind === 'connected')) return undefined;
    const failures = connectFailures(target.tcp);
    const evidence = [...target.tcp.map(describeConnect), ...controlEvidence(obs)];
    const count = (kinds: string[]) => failures.filter((o) => kinds.includes(o.kind)).length;
    const port = target.port;
    if (count(['refused', 'reset']) > 0) {
      return verdict(
        'tcp-failure',
        'server_fault',
        'tcp.refused',
        0.9,
        `The server's host is up but nothing accepts connections on port ${port} (connection refused): the web server is down or listening elsewhere.`,
        evidence,
      );
    }
    if (count(['host_unreachable']) > 0 || (count(['net_unreachable']) > 0 && someControlReachable(obs))) {
      return verdict(
        'tcp-failure',
        'server_fault',
        'tcp.unreachable',
        0.6,
        'A router reports the server unreachable (ICMP): the host is down or disconnected, or a filter rejects traffic to it.',
        evidence,
      );
    }
    if (count(['timeout']) > 0) {
      if (someControlReachable(obs)) {
        return verdict(
          'tcp-failure',
          'filtered_path',
          'filter.blackhole',
          0.6,
          `Connections to ${target.host} are silently dropped while other sites work: a filter is blackholing this address, or the host is down (the two look the same from here).`,
          evidence,
        );
      }
      return verdict(
        'tcp-failure',
        'filtered_path',
        'tcp.timeout',
        0.4,
        `No answer to our connection attempts to ${target.host}: a filter dropping them, the host being down, or this network failing all look alike (add --control to tell).`,
        evidence,
      );
    }
    return verdict(
      'tcp-failure',
      'server_fault',
      'tcp.error',
      0.5,
      `Connecting to ${target.host} failed (${failures[0]?.errno ?? 'unknown error'}).`,
      evidence,
    );
  },
};

const tlsDifferential: Rule = {
  name: 'tls-differential',
  apply: (obs) => {
    const { tls, differential } = obs.target;
    if (!tls || tls.outcome === 'established') return undefined;
    const evidence = [describeTls(tls), ...(differential?.steps.map((s) => `differential: ${s}`) ?? [])];
    const host = obs.target.host;
    if (differential?.layer === 'tls') {
      const neutral = differential.neutral as TlsObservation;
      const retry = differential.retry as TlsObservation;
      if (neutral.outcome === 'established' && retry.outcome !== 'established') {
        const isDrop = differential.trigger === 'tls_timeout';
        return verdict(
          'tls-differential',
          'filtered_path',
          isDrop ? 'filter.sni_drop' : 'filter.sni_reset',
          isDrop ? 0.6 : 0.85,
          `Connections carrying the name ${host} in the TLS handshake (SNI) are ${isDrop ? 'dropped' : 'reset'}, while the same server completes a handshake without it: a filter on the path is blocking this site by name.`,
          evidence,
        );
      }
      if (retry.outcome === 'established') {
        return verdict(
          'tls-differential',
          'server_fault',
          'tls.handshake_failed',
          0.4,
          'The TLS handshake failed once and then succeeded: an intermittent fault at the server or on the path.',
          evidence,
        );
      }
    }
    return verdict(
      'tls-differential',
      'server_fault',
      'tls.handshake_failed',
      tls.outcome === 'alert' ? 0.8 : 0.65,
      `The TLS handshake with ${host} failed (${tls.outcome}${tls.errno ? `, ${tls.errno}` : ''}) even without the site's name: the server's TLS setup is broken${tls.outcome === 'alert' ? '' : ', or a filter blocks the whole address'}.`,
      evidence,
    );
  },
};

const certificateCodes: Record<
  string,
  { code: string; confidence: number; summary: (host: string) => string }
> = {
  CERT_HAS_EXPIRED: {
    code: 'tls.cert_expired',
    confidence: 0.95,
    summary: (h) => `The TLS certificate of ${h} has expired: the site must renew it.`,
  },
  CERT_NOT_YET_VALID: {
    code: 'tls.cert_not_yet_valid',
    confidence: 0.85,
    summary: (h) =>
      `The TLS certificate of ${h} is not valid yet: the server's certificate or this machine's clock is wrong.`,
  },
  ERR_TLS_CERT_ALTNAME_INVALID: {
    code: 'tls.cert_name_mismatch',
    confidence: 0.9,
    summary: (h) =>
      `The TLS certificate presented does not cover the name ${h}: the server is misconfigured, or something on the path answers in its place.`,
  },
};

const tlsCertificate: Rule = {
  name: 'tls-certificate',
  apply: (obs) => {
    const { tls, host } = obs.target;
    if (tls?.outcome !== 'established' || tls.isTrusted) return undefined;
    const known = certificateCodes[tls.verifyError ?? ''];
    const evidence = [describeTls(tls)];
    if (known)
      return verdict(
        'tls-certificate',
        'server_fault',
        known.code,
        known.confidence,
        known.summary(host),
        evidence,
      );
    return verdict(
      'tls-certificate',
      'server_fault',
      'tls.untrusted',
      0.85,
      `The TLS certificate of ${host} is not issued by a trusted authority (${tls.verifyError}): fix the chain on the server, or pass its private CA with --ca.`,
      evidence,
    );
  },
};

function exchangeFailureVerdict(obs: Observations, exchange: HttpExchange, isRedirectHop: boolean): Verdict {
  const { differential } = obs.target;
  const hopNote = isRedirectHop ? ` (at the redirect to ${exchange.url})` : '';
  const evidence = [
    describeExchange(exchange),
    ...(differential?.steps.map((s) => `differential: ${s}`) ?? []),
  ];
  const neutral = differential?.layer === 'http' ? (differential.neutral as HttpExchange) : undefined;
  const retry = differential?.layer === 'http' ? (differential.retry as HttpExchange) : undefined;
  const isNeutralOk = neutral?.outcome === 'response';
  switch (exchange.outcome) {
    case 'reset':
      if (!isRedirectHop && exchange.isRequestSent && isNeutralOk && retry && retry.outcome !== 'response') {
        return verdict(
          'http-failure',
          'filtered_path',
          'filter.keyword_reset',
          0.85,
          `The connection is reset when our request names ${obs.target.host}, while a neutral request to the same server is answered: a filter on the path injects resets for this site.`,
          evidence,
        );
      }
      if (retry?.outcome === 'response') {
        return verdict(
          'http-failure',
          'server_fault',
          'http.reset',
          0.4,
          'The connection was reset once, then the same request succeeded: an intermittent fault at the server or on the path.',
          evidence,
        );
      }
      return verdict(
        'http-failure',
        'server_fault',
        'http.reset',
        neutral ? 0.75 : 0.6,
        `The server resets the connection${exchange.isRequestSent ? ' after receiving our request' : ''}${hopNote}, whatever the request names: the server or its load balancer is failing.`,
        neutral
          ? [
              ...evidence,
              'differential: the neutral request failed too; a stateful filter that keeps blocking after a hit would look the same',
            ]
          : evidence,
      );
    case 'empty_reply':
      if (retry?.outcome === 'response') {
        return verdict(
          'http-failure',
          'server_fault',
          'http.empty_reply',
          0.4,
          `The server closed one connection without a reply${hopNote}, then answered the same request: an intermittent fault at the server or on the path.`,
          evidence,
        );
      }
      return verdict(
        'http-failure',
        'server_fault',
        'http.empty_reply',
        isNeutralOk ? 0.6 : 0.8,
        `The server closes the connection without any reply${hopNote}${isNeutralOk ? '; other names on the same server are answered, so it drops this site by configuration (like nginx "return 444") or, less likely, a filter closes it' : ''}.`,
        evidence,
      );
    case 'headers_timeout':
      if (!isRedirectHop && isNeutralOk && retry && retry.outcome !== 'response') {
        return verdict(
          'http-failure',
          'filtered_path',
          'filter.keyword_drop',
          0.5,
          `Requests naming ${obs.target.host} get no answer while a neutral request to the same server is answered: a filter drops this site's traffic, or its backend hangs.`,
          evidence,
        );
      }
      return verdict(
        'http-failure',
        'overload',
        'http.timeout',
        0.55,
        `The server accepted the connection but sent no response before the deadline${hopNote}: it is overloaded or hung.`,
        evidence,
      );
    case 'body_timeout':
      return verdict(
        'http-failure',
        'overload',
        'http.body_timeout',
        0.5,
        `The server started answering but stalled before the body finished${hopNote}: it is overloaded or hung.`,
        evidence,
      );
    case 'dns_failed':
      return verdict(
        'http-failure',
        'dns_failure',
        'dns.redirect_target',
        0.8,
        `The site redirects to ${exchange.url}, whose name does not resolve: ${exchange.message ?? ''}.`,
        evidence,
      );
    case 'connect_failed':
      return verdict(
        'http-failure',
        'server_fault',
        'tcp.redirect_target',
        0.7,
        `The site redirects to ${exchange.url}, which does not accept connections (${exchange.errno ?? 'error'}).`,
        evidence,
      );
    case 'tls_failed':
      return verdict(
        'http-failure',
        'server_fault',
        'tls.handshake_failed',
        0.7,
        `The TLS handshake failed${hopNote} (${exchange.errno ?? 'error'}).`,
        evidence,
      );
    default:
      return verdict(
        'http-failure',
        'server_fault',
        'http.protocol_error',
        0.6,
        `The server's reply is not valid HTTP${hopNote} (${exchange.errno ?? exchange.message ?? 'error'}).`,
        evidence,
      );
  }
}

const httpFailure: Rule = {
  name: 'http-failure',
  apply: (obs) => {
    const first = firstExchange(obs.target);
    const final = finalExchange(obs.target);
    if (!first || !final || final.outcome === 'response') return undefined;
    return exchangeFailureVerdict(obs, final, final !== first);
  },
};

const redirectLoop: Rule = {
  name: 'redirect-loop',
  apply: (obs) => {
    const http = obs.target.http;
    if (!http?.isRedirectLimitReached) return undefined;
    return verdict(
      'redirect-loop',
      'server_fault',
      'http.redirect_loop',
      0.85,
      `The site redirects in a loop or through more than ${http.hops.length - 1} hops: browsers give up with "too many redirects".`,
      http.hops.map((hop) => describeExchange(hop.exchange)),
    );
  },
};

const domainMigration: Rule = {
  name: 'domain-migration',
  apply: (obs) => {
    const http = obs.target.http;
    if (!http) return undefined;
    const evidence = http.hops.map((hop) => describeExchange(hop.exchange));
    const gone = http.hops.find((hop) => hop.exchange.status === 410);
    if (gone) {
      return verdict(
        'domain-migration',
        'domain_migration',
        'http.gone',
        0.8,
        `The server says ${gone.exchange.url} is gone for good (410): the site or page was retired or moved.`,
        evidence,
      );
    }
    const offsiteIndex = http.hops.findIndex(
      (hop, index) => index > 0 && hop.registrableDomain !== http.registrableDomain,
    );
    const offsite = http.hops[offsiteIndex];
    // A move is only worth following when its destination answers; otherwise the failing hop decides.
    if (!offsite || http.hops.at(-1)?.exchange.outcome !== 'response') return undefined;
    // Permanence is the redirect that leaves the domain, not a same-site 301 before it.
    const leavingStatus = http.hops[offsiteIndex - 1]?.exchange.status;
    const isPermanent = leavingStatus === 301 || leavingStatus === 308;
    return verdict(
      'domain-migration',
      'domain_migration',
      'http.redirect_offsite',
      isPermanent ? 0.9 : 0.6,
      `The site has ${isPermanent ? 'permanently ' : ''}moved to another domain, ${offsite.registrableDomain}: update links and bookmarks to ${offsite.exchange.url}.`,
      evidence,
    );
  },
};

const httpStatus: Rule = {
  name: 'http-status',
  apply: (obs) => {
    const final = finalExchange(obs.target);
    if (final?.outcome !== 'response' || final.status === undefined) return undefined;
    const evidence = [describeExchange(final)];
    const status = final.status;
    if (status === 503) {
      const hasRetryAfter = final.headers.retryAfter !== undefined;
      return verdict(
        'http-status',
        'overload',
        'http.unavailable',
        hasRetryAfter ? 0.85 : 0.75,
        `The server is up but says it is temporarily unavailable (503)${hasRetryAfter ? `, asking to retry after ${final.headers.retryAfter}` : ''}: it is overloaded or in maintenance.`,
        evidence,
      );
    }
    if (status === 429) {
      return verdict(
        'http-status',
        'overload',
        'http.rate_limited',
        0.85,
        `The server is rate-limiting requests (429)${final.headers.retryAfter ? `; retry after ${final.headers.retryAfter}` : ''}.`,
        evidence,
      );
    }
    if (status >= 500) {
      const isGateway = status === 502 || status === 504;
      return verdict(
        'http-status',
        'server_fault',
        'http.server_error',
        0.85,
        isGateway
          ? `The site's proxy or load balancer cannot reach its backend (${status}): the application behind it is down or too slow.`
          : `The server fails with an internal error (${status}): the application is broken.`,
        evidence,
      );
    }
    return undefined;
  },
};

const slowFirstByte: Rule = {
  name: 'slow-first-byte',
  apply: (obs) => {
    const first = firstExchange(obs.target);
    const firstByteMs = first?.timings.firstByteMs;
    if (first?.outcome !== 'response' || firstByteMs === undefined) return undefined;
    const connectMs = connectMsOf(obs.target) ?? 0;
    const { slowFirstByteMs, slowFirstByteRatio } = obs.thresholds;
    if (firstByteMs < slowFirstByteMs || firstByteMs < connectMs * slowFirstByteRatio) return undefined;
    return verdict(
      'slow-first-byte',
      'overload',
      'http.slow_first_byte',
      0.7,
      `The server answers, but its first byte took ${Math.round(firstByteMs)} ms against a ${connectMs} ms round trip: the application is overloaded or slow.`,
      [describeExchange(first), ...obs.target.tcp.map(describeConnect)],
    );
  },
};

const reachable: Rule = {
  name: 'reachable',
  apply: (obs) => {
    const final = finalExchange(obs.target);
    if (final?.outcome !== 'response' || final.status === undefined) return undefined;
    const evidence = obs.target.http?.hops.map((hop) => describeExchange(hop.exchange)) ?? [];
    if (final.status >= 400) {
      return verdict(
        'reachable',
        'ok',
        'http.client_error',
        0.6,
        `The site is reachable; this URL answers ${final.status}, a problem with the request or the page, not the connection.`,
        evidence,
      );
    }
    return verdict(
      'reachable',
      'ok',
      'http.ok',
      0.95,
      `The site is reachable and answers ${final.status}.`,
      evidence,
    );
  },
};

/** Read top to bottom like the table in docs/causes.md: the first rule that matches decides. */
export const rules: Rule[] = [
  localNoRoute,
  localControlsFailed,
  dnsTampered,
  dnsFailure,
  tcpFailure,
  tlsDifferential,
  tlsCertificate,
  redirectLoop,
  domainMigration,
  httpFailure,
  httpStatus,
  slowFirstByte,
  reachable,
];

export function classify(obs: Observations): Verdict {
  for (const rule of rules) {
    const result = rule.apply(obs);
    if (result) return result;
  }
  const notes = obs.target.notes;
  const isNoRoute = obs.target.tcp.some((o) => o.kind !== 'connected' && isNoRouteErrno(o.errno));
  return verdict(
    'undetermined',
    isNoRoute ? 'local_network' : 'server_fault',
    'probe.incomplete',
    0.2,
    'The probe could not complete enough phases to say why the site fails.',
    notes,
  );
}
