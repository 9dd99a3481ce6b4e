// Rules for HTTP: failed exchanges (with the differential retry), redirects, statuses and slowness.
import type { HttpDifferentialObservation, HttpExchange, Observations, RedirectHop } from '../types.js';
import { describeConnect, describeExchange } from './describe.js';
import { connectMsOf, finalExchange, firstExchange } from './facts.js';
import { isStatusAccepted } from './rules-content.js';
import { certificateCovers, refusalByErrno } from './rules-tls.js';
import type { Finding, Rule } from './verdict.js';
import { allControlsFailed, verdict } from './verdict.js';

/** Below one full-size segment on any common path: what still arrives through an MTU black hole. */
const smallPacketBytes = 1200;

/** What every failure finding reads: the exchange, its differential, and how to name where it failed. */
interface FailureContext {
  obs: Observations;
  exchange: HttpExchange;
  http: HttpDifferentialObservation | undefined;
  hopNote: string;
  name: string;
  evidence: string[];
}

function failureContextOf(
  obs: Observations,
  exchange: HttpExchange,
  hop: RedirectHop | undefined,
): FailureContext {
  // The first hop's differential is the target's; a redirect hop carries its own.
  const differential = hop ? hop.differential : obs.target.differential;
  const isRedirectHop = hop !== undefined;
  return {
    obs,
    exchange,
    http: differential?.layer === 'http' ? differential : undefined,
    hopNote: isRedirectHop ? ` (at the redirect to ${exchange.url})` : '',
    name: isRedirectHop ? exchange.hostHeader : obs.target.host,
    evidence: [describeExchange(exchange), ...(differential?.steps.map((s) => `differential: ${s}`) ?? [])],
  };
}

/** The final exchange failed: one finding per way it ended, each with the differential's evidence. */
function exchangeFailureVerdict(
  obs: Observations,
  exchange: HttpExchange,
  hop: RedirectHop | undefined,
): Finding {
  const context = failureContextOf(obs, exchange, hop);
  const { http, hopNote, name, evidence } = context;
  switch (exchange.outcome) {
    case 'reset':
      return resetFinding(context);
    case 'tls_failed':
      return hopHandshakeVerdict(exchange, http, hopNote, name, evidence);
    case 'empty_reply':
      return emptyReplyFinding(context);
    case 'headers_timeout':
      return unansweredFinding(context);
    case 'body_timeout':
      return stalledBodyFinding(context);
    case 'body_cut':
      return cutBodyFinding(context);
    case 'dns_failed':
      return verdict({
        cause: 'dns_failure',
        code: 'dns.redirect_target',
        confidence: 0.8,
        summary: `The site redirects to ${exchange.url}, whose name does not resolve: ${exchange.message ?? ''}.`,
        evidence: evidence,
      });
    case 'connect_failed':
      return verdict({
        cause: 'server_fault',
        code: 'tcp.redirect_target',
        confidence: 0.7,
        summary: `The site redirects to ${exchange.url}, which does not accept connections (${exchange.errno ?? 'error'}).`,
        evidence: evidence,
      });
    case 'protocol_error':
      return verdict({
        cause: 'server_fault',
        code: 'http.protocol_error',
        confidence: 0.75,
        summary: `The server's reply is not valid HTTP${hopNote}${exchange.status === undefined ? '' : ` after its status (${exchange.status}), in the body`} (${exchange.message ?? exchange.errno ?? 'error'}): ${exchange.status === undefined ? 'something other than a web server answers on this port, or the server is broken' : 'the server or a proxy in front of it garbles the answer'}.`,
        evidence: evidence,
      });
    default:
      return verdict({
        cause: 'server_fault',
        code: 'http.protocol_error',
        confidence: 0.6,
        summary: `The server's reply is not valid HTTP${hopNote} (${exchange.errno ?? exchange.message ?? 'error'}).`,
        evidence: evidence,
      });
  }
}

/** A reset after our request: a filter only with positive evidence, else the server, or once. */
function resetFinding(context: FailureContext): Finding {
  const { exchange, http, hopNote, name, evidence } = context;
  // The status line came first: whoever resets the connection, the server had already answered this name.
  if (exchange.status !== undefined) return cutBodyFinding(context);
  const neutral = http?.neutral;
  const retry = http?.retry;
  const isNeutralOk = neutral?.outcome === 'response';
  // Positive evidence: the reset came after our request named the site, twice, while a request that names
  // nothing was answered by the same address.
  if (exchange.isRequestSent && isNeutralOk && retry?.outcome === 'reset') {
    return verdict({
      cause: 'filtered_path',
      code: 'filter.keyword_reset',
      confidence: 0.75,
      summary: `The connection is reset when our request names ${name}${hopNote}, while a neutral request to the same server is answered: a filter on the path injects resets for this site, or the server itself resets requests for this name (a probe from another network tells them apart).`,
      evidence: evidence,
    });
  }
  if (retry?.outcome === 'response') {
    return verdict({
      cause: 'server_fault',
      code: 'http.reset',
      confidence: 0.4,
      summary: `The connection was reset once${hopNote}, then the same request succeeded: an intermittent fault at the server or on the path.`,
      evidence: evidence,
    });
  }
  return verdict({
    cause: 'server_fault',
    code: 'http.reset',
    confidence: neutral ? 0.75 : 0.6,
    summary: `The server resets the connection${exchange.isRequestSent ? ' after receiving our request' : ''}${hopNote}, whatever the request names: the server or its load balancer is failing.`,
    evidence: neutral
      ? [
          ...evidence,
          'differential: the neutral request failed too; a stateful filter that keeps blocking after a hit would look the same',
        ]
      : evidence,
  });
}

/**
 * The status and part of the body came, then the connection ended, by a FIN before the end the headers
 * announced (Content-Length, or a chunked body without its last chunk) or by a reset. The server answered the
 * name, so this is no filter matching the request: the server, its application or a proxy in front of it
 * failed mid-answer.
 */
function cutBodyFinding(context: FailureContext): Finding {
  const { exchange, hopNote, evidence } = context;
  const how =
    exchange.outcome === 'reset'
      ? 'then the connection was reset'
      : 'then the server closed the connection before the end it announced';
  return verdict({
    cause: 'server_fault',
    code: 'http.body_cut',
    confidence: 0.75,
    summary: `The server began its answer (${exchange.status ?? 'a status'}) and sent ${exchange.bodyBytes} bytes of the body${hopNote}, ${how}: the page arrives incomplete. The server or its application fails mid-answer, or a proxy in front of it cuts the answer.`,
    evidence: evidence,
  });
}

/** The peer closed without a reply. */
function emptyReplyFinding(context: FailureContext): Finding {
  const { exchange, http, hopNote, evidence } = context;
  const neutral = http?.neutral;
  const retry = http?.retry;
  const isNeutralOk = neutral?.outcome === 'response';
  // Bytes came, but never the end of a status line and headers: the reply began and was cut, it was not absent.
  // Over plain http only: over TLS the bytes may be session tickets or a close_notify, not a reply.
  if (exchange.bytesReceived > 0 && exchange.url.startsWith('http:')) {
    return verdict({
      cause: 'server_fault',
      code: 'http.empty_reply',
      confidence: 0.7,
      summary: `The server sent ${exchange.bytesReceived} bytes that never completed a response's status line and headers${hopNote}, then closed the connection: it fails while answering.`,
      evidence: evidence,
    });
  }
  if (retry?.outcome === 'response') {
    return verdict({
      cause: 'server_fault',
      code: 'http.empty_reply',
      confidence: 0.4,
      summary: `The server closed one connection without a reply${hopNote}, then answered the same request: an intermittent fault at the server or on the path.`,
      evidence: evidence,
    });
  }
  return verdict({
    cause: 'server_fault',
    code: 'http.empty_reply',
    confidence: isNeutralOk ? 0.6 : 0.8,
    summary: `The server closes the connection without any reply${hopNote}${isNeutralOk ? '; other names on the same server are answered, so it drops this site by configuration (like nginx "return 444") or, less likely, a filter closes it' : ''}.`,
    evidence: evidence,
  });
}

/** No answer before the deadline: a filter only when the original had the whole budget, or packets lost by size. */
function unansweredFinding(context: FailureContext): Finding {
  const { exchange, http, hopNote, name, evidence } = context;
  const neutral = http?.neutral;
  const retry = http?.retry;
  const isNeutralOk = neutral?.outcome === 'response';
  const small = http?.small;
  // Only an original that had the whole budget counts as never answered (the side requests ran beside it).
  const isWholeBudget = http?.isConcurrent === true;
  if (
    isWholeBudget &&
    small?.outcome === 'response' &&
    retry?.outcome !== 'response' &&
    exchange.bytesReceived === 0
  ) {
    // A HEAD of the same page with the same name is answered, the full GET never is: packets get through
    // by size, not by name. Where the black hole is decides who must fix it.
    const isOwnNetwork = allControlsFailed(context.obs);
    return verdict({
      cause: isOwnNetwork ? 'local_network' : 'server_fault',
      code: 'path.mtu_blackhole',
      confidence: 0.6,
      summary: `Small answers from ${name} arrive (a HEAD request is answered) but the full page never does${hopNote}: large packets are lost on the path, a path MTU black hole (a link with a smaller MTU whose ICMP "fragmentation needed" messages are blocked)${isOwnNetwork ? ', on this network: the controls stall too' : ', most likely near the site'}.`,
      evidence: evidence,
    });
  }
  // The kernel's word on the request (Linux): acknowledged by the server's TCP, or never.
  const unacknowledged = exchange.unacknowledgedBytes;
  const isRequestReceived = unacknowledged !== undefined && unacknowledged < exchange.bytesSent;
  const isRequestLost =
    unacknowledged !== undefined && exchange.bytesSent > 0 && unacknowledged >= exchange.bytesSent;
  const isNameUnanswered =
    isWholeBudget &&
    isNeutralOk &&
    retry !== undefined &&
    retry.outcome !== 'response' &&
    small?.outcome !== 'response';
  if (isNameUnanswered && isRequestReceived) {
    // The server got the request and kept silent: no filter between us drops it, whatever the neutral got.
    return verdict({
      cause: 'overload',
      code: 'http.timeout',
      confidence: 0.65,
      summary: `The server received our request for ${name}${hopNote} (its TCP acknowledged it) but sent no answer in the whole time allowed, while a neutral request to the same server was answered: this site's application or backend hangs.`,
      evidence: [
        ...evidence,
        `tcp: the server acknowledged our request (${unacknowledged} of ${exchange.bytesSent} bytes left unacknowledged)`,
      ],
    });
  }
  if (isNameUnanswered) {
    return verdict({
      cause: 'filtered_path',
      code: 'filter.keyword_drop',
      confidence: isRequestLost ? 0.7 : 0.5,
      summary: isRequestLost
        ? `Requests naming ${name}${hopNote} never reached the server: its TCP never acknowledged them in the whole time allowed, while a neutral request to the same server was answered: a filter on the path drops this site's requests by name.`
        : `Requests naming ${name}${hopNote} got no answer in the whole time allowed, while a neutral request to the same server was answered: a filter drops this site's traffic by name, or the site's own backend hangs (a probe from another network tells them apart).`,
      evidence: isRequestLost
        ? [
            ...evidence,
            `tcp: our request was never acknowledged (${unacknowledged} bytes outstanding of ${exchange.bytesSent} sent)`,
          ]
        : evidence,
    });
  }
  return verdict({
    cause: 'overload',
    code: 'http.timeout',
    confidence: 0.55,
    summary: `The server accepted the connection but sent no response before the deadline${hopNote}: it is overloaded or hung.`,
    evidence: evidence,
  });
}

/** The headers came and the body stalled. */
function stalledBodyFinding(context: FailureContext): Finding {
  const { exchange, hopNote, name, evidence } = context;
  // The headers came in one small packet and not one byte of the body followed: what a path that loses
  // full-size packets does when the server sends its headers apart from the body.
  if (exchange.bodyBytes === 0 && exchange.bytesReceived > 0 && exchange.bytesReceived < smallPacketBytes) {
    const isOwnNetwork = allControlsFailed(context.obs);
    return verdict({
      cause: isOwnNetwork ? 'local_network' : 'server_fault',
      code: 'path.mtu_blackhole',
      confidence: 0.5,
      summary: `The headers from ${name} arrived in one small packet (${exchange.bytesReceived} bytes) and not one byte of the page followed${hopNote}: large packets are lost on the path, a path MTU black hole${isOwnNetwork ? ', on this network' : ', most likely near the site'} (or the server stalls right after its headers).`,
      evidence: evidence,
    });
  }
  return verdict({
    cause: 'overload',
    code: 'http.body_timeout',
    confidence: 0.5,
    summary: `The server started answering but stalled before the body finished${hopNote}: it is overloaded or hung.`,
    evidence: evidence,
  });
}

/**
 * A redirect hop's handshake failed on a new connection. Compared at the HTTP layer: the neutral request carries
 * no SNI, the repeated one carries the name again.
 */
function hopHandshakeVerdict(
  exchange: HttpExchange,
  http: HttpDifferentialObservation | undefined,
  hopNote: string,
  name: string,
  evidence: string[],
): Finding {
  const handshake = exchange.tlsHandshake?.outcome;
  const isNeutralOk = http?.neutral.outcome === 'response';
  const isRetryFailed = http !== undefined && http.retry.outcome === 'tls_failed';
  const isDrop = handshake === 'timeout';
  if (isNeutralOk && isRetryFailed && (!isDrop || http?.isConcurrent === true)) {
    // The kernel's word on the ClientHello (Linux), as for the target's own handshake (rules-tls.ts).
    const bytesSent = exchange.tlsHandshake?.bytesSent ?? 0;
    const unacknowledged = exchange.tlsHandshake?.unacknowledgedBytes;
    const isHelloLost =
      isDrop && unacknowledged !== undefined && bytesSent > 0 && unacknowledged >= bytesSent;
    if (isDrop && unacknowledged !== undefined && unacknowledged < bytesSent) {
      return verdict({
        cause: 'server_fault',
        code: 'tls.handshake_failed',
        confidence: 0.6,
        summary: `The server received our TLS ClientHello naming ${name}${hopNote} (its TCP acknowledged it) but never answered it, while it answers without the name: the server, or the TLS front end that routes this name, hangs for this site. A transparent proxy that answers for the server at the TCP level and drops the name would look the same; a probe from another network tells them apart.`,
        evidence: [
          ...evidence,
          `tcp: the server acknowledged our ClientHello (${unacknowledged} of ${bytesSent} bytes left unacknowledged)`,
        ],
      });
    }
    if (isHelloLost) {
      evidence.push(
        `tcp: our ClientHello was never acknowledged (${unacknowledged} bytes outstanding of ${bytesSent} sent)`,
      );
    }
    const how = isDrop ? 'dropped' : handshake === 'closed' ? 'closed' : 'reset';
    // As for the target's own handshake (rules-tls.ts): a default certificate for other names only is weaker.
    const neutralCertificate = http?.neutral.tls?.certificate;
    const isNameElsewhere = neutralCertificate !== undefined && !certificateCovers(neutralCertificate, name);
    const hedge = isNameElsewhere
      ? ` The certificate this server presents without SNI (${neutralCertificate.subject}) does not cover ${name}, so a server that ${isDrop ? 'ignores' : 'refuses'} names it does not host looks the same from here; a probe from another network tells them apart.`
      : '';
    return verdict({
      cause: 'filtered_path',
      code: isDrop ? 'filter.sni_drop' : 'filter.sni_reset',
      confidence: (isDrop ? (isHelloLost ? 0.7 : 0.6) : 0.8) - (isNameElsewhere ? 0.15 : 0),
      summary: `Connections carrying the name ${name} in the TLS handshake (SNI) are ${how}${hopNote}, while the same server completes a handshake and answers without it: a filter on the path is blocking this site by name.${hedge}`,
      evidence: evidence,
    });
  }
  // An alert that names why the server refused (rules-tls.ts), read the same way as the target's own.
  const named =
    exchange.errno === undefined
      ? undefined
      : refusalByErrno(exchange.errno, {
          host: name,
          address: exchange.address,
          port: exchange.port,
          hasServername: exchange.servername !== null,
          lead: hopNote ? `The site redirects to ${exchange.url}. ` : '',
          evidence,
        });
  if (named) return named;
  return verdict({
    cause: 'server_fault',
    code: 'tls.handshake_failed',
    confidence: 0.7,
    summary: `The TLS handshake failed${hopNote} (${exchange.errno ?? 'error'}).`,
    evidence: evidence,
  });
}

export const httpFailure: Rule = {
  name: 'http-failure',
  apply: (obs) => {
    const hops = obs.target.http?.hops ?? [];
    const final = hops.at(-1);
    if (!final || final.exchange.outcome === 'response') return undefined;
    return exchangeFailureVerdict(obs, final.exchange, hops.length > 1 ? final : undefined);
  },
};

export const redirectLoop: Rule = {
  name: 'redirect-loop',
  apply: (obs) => {
    const http = obs.target.http;
    if (!http?.isRedirectLimitReached) return undefined;
    const chain = http.hops.map((hop) => normalUrl(hop.exchange.url));
    const last = http.hops.at(-1)?.exchange;
    const next =
      last?.headers.location === undefined ? undefined : normalUrl(last.headers.location, last.url);
    const isLoop = next !== undefined && chain.includes(next);
    return verdict({
      cause: 'server_fault',
      code: 'http.redirect_loop',
      confidence: 0.85,
      summary: isLoop
        ? `The site redirects in a loop: ${chain.join(' → ')} → back to ${next}. Browsers give up with "too many redirects".`
        : `The site redirects through more than ${http.hops.length - 1} hops (${chain.join(' → ')} → …): browsers give up with "too many redirects".`,
      evidence: http.hops.map((hop) => describeExchange(hop.exchange)),
    });
  },
};

const redirectStatuses = new Set([301, 302, 303, 307, 308]);

/** A URL as a browser shows it (the default port left out), resolved against a base when relative. */
function normalUrl(url: string, base?: string): string {
  try {
    return new URL(url, base).href;
  } catch {
    return url;
  }
}

/** A redirect whose Location is not an http(s) URL (or not a URL): nothing, a browser included, can follow it. */
export const redirectUnfollowable: Rule = {
  name: 'redirect-unfollowable',
  apply: (obs) => {
    const http = obs.target.http;
    const final = finalExchange(obs.target);
    if (!http || http.isRedirectLimitReached || final?.outcome !== 'response') return undefined;
    const location = final.headers.location;
    if (!redirectStatuses.has(final.status ?? 0) || location === undefined) return undefined;
    return verdict({
      cause: 'server_fault',
      code: 'http.redirect_invalid',
      confidence: 0.8,
      summary: http.unfollowableLocation
        ? `The site redirects to ${JSON.stringify(location.slice(0, 200))}, which ${http.unfollowableLocation}: no client can follow it.`
        : `The site redirects to ${JSON.stringify(location.slice(0, 200))}, which is not an http(s) URL: browsers will not follow it.`,
      evidence: http.hops.map((hop) => describeExchange(hop.exchange)),
    });
  },
};

export const domainMigration: Rule = {
  name: 'domain-migration',
  apply: (obs) => {
    const http = obs.target.http;
    if (!http) return undefined;
    const evidence = http.hops.map((hop) => describeExchange(hop.exchange));
    const gone = http.hops.find((hop) => hop.exchange.status === 410);
    if (gone) {
      return verdict({
        cause: 'domain_migration',
        code: 'http.gone',
        confidence: 0.8,
        summary: `The server says ${gone.exchange.url} is gone for good (410): the site or page was retired or moved.`,
        evidence: evidence,
      });
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
    return verdict({
      cause: 'domain_migration',
      code: 'http.redirect_offsite',
      confidence: isPermanent ? 0.9 : 0.6,
      summary: `The site has ${isPermanent ? 'permanently ' : ''}moved to another domain, ${offsite.registrableDomain}: update links and bookmarks to ${offsite.exchange.url}.`,
      evidence: evidence,
    });
  },
};

/** Cloudflare's own 5xx statuses: what its edge met at the site's origin server, in its documentation's terms. */
const cloudflareOriginErrors: Readonly<Record<number, string>> = {
  520: 'the origin server sent an empty, unknown or unexpected answer',
  521: 'the origin server refused the connection: its web server is down',
  522: 'the connection to the origin server timed out',
  523: 'the origin server is unreachable: no route to it, or its DNS record points nowhere',
  524: 'the origin server took the request but did not answer in time',
  525: 'the TLS handshake with the origin server failed',
  526: "the origin server's certificate is not valid",
  530: 'the origin server could not be resolved or reached',
};

export const httpStatus: Rule = {
  name: 'http-status',
  apply: (obs) => {
    const final = finalExchange(obs.target);
    if (final?.outcome !== 'response' || final.status === undefined) return undefined;
    if (isStatusAccepted(obs)) return undefined;
    const evidence = [describeExchange(final)];
    const status = final.status;
    if (status === 503) {
      const hasRetryAfter = final.headers.retryAfter !== undefined;
      return verdict({
        cause: 'overload',
        code: 'http.unavailable',
        confidence: hasRetryAfter ? 0.85 : 0.75,
        summary: `The server is up but says it is temporarily unavailable (503)${hasRetryAfter ? `, asking to retry after ${final.headers.retryAfter}` : ''}: it is overloaded or in maintenance.`,
        evidence: evidence,
      });
    }
    if (status === 429) {
      return verdict({
        cause: 'overload',
        code: 'http.rate_limited',
        confidence: 0.85,
        summary: `The server is rate-limiting requests (429)${final.headers.retryAfter ? `; retry after ${final.headers.retryAfter}` : ''}.`,
        evidence: evidence,
      });
    }
    if (status >= 500) {
      const isGateway = status === 502 || status === 504;
      const cdnOrigin = /cloudflare/i.test(final.headers.server ?? '')
        ? cloudflareOriginErrors[status]
        : undefined;
      return verdict({
        cause: 'server_fault',
        code: 'http.server_error',
        confidence: 0.85,
        summary: cdnOrigin
          ? `The site's CDN (Cloudflare) answers, but cannot get the page from the site's own server (${status}: ${cdnOrigin}): the site's origin server is down or misconfigured, not the path from here to the CDN.`
          : isGateway
            ? `The site's proxy or load balancer cannot reach its backend (${status}): the application behind it is down or too slow.`
            : `The server fails with an internal error (${status}): the application is broken.`,
        evidence: evidence,
      });
    }
    return undefined;
  },
};

export const slowFirstByte: Rule = {
  name: 'slow-first-byte',
  apply: (obs) => {
    const first = firstExchange(obs.target);
    const firstByteMs = first?.timings.firstByteMs;
    if (first?.outcome !== 'response' || firstByteMs === undefined) return undefined;
    const connectMs = connectMsOf(obs.target) ?? 0;
    const { slowFirstByteMs, slowFirstByteRatio } = obs.thresholds;
    if (firstByteMs < slowFirstByteMs || firstByteMs < connectMs * slowFirstByteRatio) return undefined;
    return verdict({
      cause: 'overload',
      code: 'http.slow_first_byte',
      confidence: 0.7,
      summary: `The server answers, but its first byte took ${Math.round(firstByteMs)} ms against a ${connectMs < 10 ? connectMs.toFixed(1) : Math.round(connectMs)} ms round trip: the application is overloaded or slow.`,
      evidence: [describeExchange(first), ...obs.target.tcp.map(describeConnect)],
    });
  },
};

export const reachable: Rule = {
  name: 'reachable',
  apply: (obs) => {
    const final = finalExchange(obs.target);
    if (final?.outcome !== 'response' || final.status === undefined) return undefined;
    const evidence = obs.target.http?.hops.map((hop) => describeExchange(hop.exchange)) ?? [];
    if (final.status >= 400 && isStatusAccepted(obs)) {
      return verdict({
        cause: 'ok',
        code: 'http.ok',
        confidence: 0.9,
        summary: `The site is reachable and answers ${final.status}, a status its monitor accepts.`,
        evidence: [
          ...evidence,
          ...(obs.target.content?.checks.map((c) => `content: met: ${c.expected}`) ?? []),
        ],
      });
    }
    if (final.status >= 400) {
      return verdict({
        cause: 'ok',
        code: 'http.client_error',
        confidence: 0.6,
        summary: `The site is reachable; this URL answers ${final.status}, a problem with the request or the page, not the connection.`,
        evidence: evidence,
      });
    }
    return verdict({
      cause: 'ok',
      code: 'http.ok',
      confidence: 0.95,
      summary: `The site is reachable and answers ${final.status}.`,
      evidence: evidence,
    });
  },
};
