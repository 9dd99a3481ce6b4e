// Redirects, followed by hand: each hop resolved with the probe's resolvers and checked against the policy.
import net from 'node:net';
import type { DifferentialObservation, HttpExchange, HttpObservation, RedirectHop } from '../types.js';
import { exchangeWithDifferential } from './differential.js';
import { connectionOriginOf, type KeptConnection, keptConnectionOf, redirectStatuses } from './http.js';
import {
  defaultPort,
  enforcePolicy,
  hostOf,
  pathOf,
  registrableDomain,
  resolve,
  type TargetProbeOptions,
} from './probe-context.js';
import { targetUrlProblem } from './target-url-text.js';

export async function followRedirects(
  first: HttpExchange,
  url: URL,
  options: TargetProbeOptions,
): Promise<HttpObservation> {
  const hops: RedirectHop[] = [{ exchange: first, registrableDomain: registrableDomain(hostOf(url)) }];
  const seen = new Set([url.href]);
  let current = first;
  let currentUrl = url;
  let isRedirectLimitReached = false;
  let unfollowableLocation: string | undefined;
  // A hop to the same origin goes on the connection the answer before left open, as a browser's would.
  let kept = keptConnectionOf(first);
  try {
    while (
      current.outcome === 'response' &&
      redirectStatuses.has(current.status ?? 0) &&
      current.headers.location
    ) {
      if (hops.length > options.maxRedirects) {
        isRedirectLimitReached = true;
        break;
      }
      let nextUrl: URL;
      try {
        nextUrl = new URL(current.headers.location, currentUrl);
      } catch {
        break; // an unparsable Location: the hop itself is the evidence
      }
      if ((nextUrl.protocol !== 'http:' && nextUrl.protocol !== 'https:') || seen.has(nextUrl.href)) {
        isRedirectLimitReached = seen.has(nextUrl.href);
        break;
      }
      // A Location DNS cannot ask for (a label over 63 characters, an empty one) or naming port 0: followed, it
      // would query another name or be refused by this machine. The redirect itself is the site's fault.
      const problem = targetUrlProblem(nextUrl);
      if (problem !== undefined) {
        unfollowableLocation = problem;
        break;
      }
      seen.add(nextUrl.href);
      const hop = await fetchHop(nextUrl, options, kept);
      kept = keptConnectionOf(hop.exchange);
      current = hop.exchange;
      currentUrl = nextUrl;
      hops.push({
        exchange: current,
        registrableDomain: registrableDomain(hostOf(nextUrl)),
        ...(hop.differential ? { differential: hop.differential } : {}),
      });
    }
  } finally {
    kept?.close();
  }
  return {
    hops,
    finalUrl: currentUrl.href,
    registrableDomain: registrableDomain(hostOf(url)),
    isRedirectLimitReached,
    ...(unfollowableLocation === undefined ? {} : { unfollowableLocation }),
  };
}

/**
 * A redirect hop: resolve its host with the same resolvers, then one exchange on a new connection, with the
 * same differential as the first hop (an SNI filter usually shows on the https hop after an http redirect). A
 * hop to the origin of the connection the answer before kept goes on that connection, unresolved again, as a
 * browser's would; another origin's hop closes it.
 */
async function fetchHop(
  url: URL,
  options: TargetProbeOptions,
  kept: KeptConnection | undefined,
): Promise<{ exchange: HttpExchange; differential?: DifferentialObservation }> {
  const host = hostOf(url);
  const port = defaultPort(url);
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const started = performance.now();
  let address = host;
  let dnsMs: number | undefined;
  const connection = kept?.origin === connectionOriginOf(scheme, host, port) ? kept : undefined;
  if (connection === undefined) kept?.close();
  if (connection !== undefined) address = connection.address;
  else if (!net.isIP(host)) {
    const dns = (await resolve(host, options)).observation;
    dnsMs = dns.durationMs;
    const resolved = dns.addresses[0];
    if (resolved === undefined) {
      const outcomes = dns.resolvers.flatMap((r) => r.queries.map((q) => q.outcome));
      const failed: HttpExchange = {
        url: url.href,
        address: '',
        port,
        hostHeader: host,
        path: pathOf(url),
        servername: scheme === 'https' ? host : null,
        outcome: 'dns_failed',
        headers: {},
        timings: { dnsMs, totalMs: Math.round(performance.now() - started) },
        bytesSent: 0,
        bytesReceived: 0,
        isRequestSent: false,
        hasPeerFin: false,
        bodyBytes: 0,
        isBodyTruncated: false,
        message: `no address for ${host} (${[...new Set(outcomes)].join(', ')})`,
        startedAtMs: Math.round(started - options.probeStartedMs),
      };
      return { exchange: failed };
    }
    address = resolved;
  }
  enforcePolicy(address, options);
  const servername = net.isIP(host) ? null : host;
  const { first, differential } = await exchangeWithDifferential(
    {
      scheme,
      address,
      port,
      hostHeader: host,
      servername,
      path: pathOf(url),
      dnsMs,
      connection,
      isConnectionKept: true,
      ca: options.ca,
      maxBodyBytes: options.maxBodyBytes,
      isBodyKept: options.isBodyKept === true,
      signal: options.signal,
      isAddressAllowed: options.isAddressAllowed,
      probeStartedMs: options.probeStartedMs,
    },
    url,
    options,
  );
  // A handshake that failed on the hop is compared at the HTTP layer: the neutral request carries no SNI.
  return differential ? { exchange: first, differential } : { exchange: first };
}
