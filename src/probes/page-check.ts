// What the same server returns otherwise, to compare a plain-http page with: a forged page is told by evidence.
import net from 'node:net';
import type { DnsObservation, HttpExchange, PageCheckObservation } from '../types.js';
import { exchange } from './http.js';
import type { TargetProbeOptions } from './probe-context.js';
import { replayRequest } from './replay.js';
import { remainingMs } from './util.js';

/** Below this much budget left, the comparison is skipped (a probe near its deadline reports what it has). */
const minimumBudgetMs = 300;
/** The other resolvers' addresses asked for the same page, at most. */
const maxElsewhere = 2;

/**
 * Only a final 2xx over plain http is checked: a middlebox cannot forge an https page without a certificate
 * the client trusts, and redirects and errors have rules of their own.
 */
export function needsPageCheck(final: HttpExchange | undefined): final is HttpExchange {
  return (
    final?.url.startsWith('http:') === true &&
    final.outcome === 'response' &&
    final.status !== undefined &&
    final.status >= 200 &&
    final.status < 300
  );
}

/**
 * Runs three things at once: the final request again on a raw socket, listening on for a second answer; the
 * same address with a neutral Host; and the same request to the addresses other resolvers gave, when they
 * disagree. The replay listens until two round trips after the peer's FIN (at least 50 ms), or a few round
 * trips at most (at least 300 ms) when no FIN comes: the server's own answer, if it follows a forged one,
 * comes then. An address as the URL's host is not checked: its neutral request would be the same request.
 */
export async function checkPage(
  final: HttpExchange,
  dns: DnsObservation | null,
  options: TargetProbeOptions,
): Promise<PageCheckObservation | undefined> {
  const budgetMs = remainingMs(options.deadlineMs, 0);
  if (budgetMs < minimumBudgetMs) return undefined;
  const connectMs = final.timings.connectMs ?? 0;
  const listenMs = Math.min(budgetMs - 50, Math.max(300, Math.min(1500, Math.round(connectMs * 4))));
  const common = {
    scheme: 'http' as const,
    port: final.port,
    servername: null,
    maxBodyBytes: options.maxBodyBytes,
    signal: options.signal,
    isAddressAllowed: options.isAddressAllowed,
    probeStartedMs: options.probeStartedMs,
    // A side request that hangs must not hold the probe to its deadline.
    timeoutMs: Math.min(remainingMs(options.deadlineMs, 1), listenMs + 1000),
  };
  const [replay, neutral, elsewhere] = await Promise.all([
    replayRequest({
      address: final.address,
      port: final.port,
      hostHeader: final.hostHeader,
      path: final.path,
      listenMs,
      afterFinMs: Math.min(listenMs, Math.max(50, Math.round(connectMs * 2))),
      maxBytes: options.maxBodyBytes + 64 * 1024,
      signal: options.signal,
      isAddressAllowed: options.isAddressAllowed,
    }),
    exchange({ ...common, address: final.address, hostHeader: final.address, path: '/' }),
    Promise.all(
      otherAddresses(final, dns, options).map((address) =>
        exchange({ ...common, address, hostHeader: final.hostHeader, path: final.path }),
      ),
    ),
  ]);
  return { replay, neutral, elsewhere };
}

/**
 * Addresses of the same family that resolvers gave for the final name while not giving the one used (resolvers
 * that disagree), not bogons, allowed by the policy. A name's own several addresses are not compared: they
 * are one answer. Only the target's own name has them (a redirect hop's name was resolved apart).
 */
function otherAddresses(
  final: HttpExchange,
  dns: DnsObservation | null,
  options: TargetProbeOptions,
): string[] {
  if (!dns || dns.name !== final.hostHeader) return [];
  const family = net.isIP(final.address);
  const others = new Set<string>();
  for (const resolver of dns.resolvers) {
    const queries = resolver.queries;
    if (queries.some((query) => query.addresses.includes(final.address))) continue;
    for (const query of queries) {
      for (const address of query.addresses) {
        if (query.bogons.includes(address) || net.isIP(address) !== family) continue;
        if (options.isAddressAllowed?.(address) !== undefined) continue;
        others.add(address);
      }
    }
  }
  return [...others].slice(0, maxElsewhere);
}
