// Rules for TCP connects and TLS handshakes: refused, unreachable, dropped, SNI filtering, certificates.

import type { VerdictCode } from './codes.js';
import { describeConnect, describeTls } from './describe.js';
import { connectFailures } from './facts.js';
import type { Rule } from './verdict.js';
import { controlEvidence, someControlReachable, verdict } from './verdict.js';

export const tcpFailure: Rule = {
  name: 'tcp-failure',
  apply: (obs) => {
    const { target } = obs;
    if (target.tcp.length === 0 || target.tcp.some((o) => o.kind === 'connected')) return undefined;
    const failures = connectFailures(target.tcp);
    const evidence = [...target.tcp.map(describeConnect), ...controlEvidence(obs)];
    const count = (kinds: string[]) => failures.filter((o) => kinds.includes(o.kind)).length;
    const port = target.port;
    if (count(['refused', 'reset']) > 0) {
      return verdict({
        cause: 'server_fault',
        code: 'tcp.refused',
        confidence: 0.9,
        summary: `The server's host is up but nothing accepts connections on port ${port} (connection refused): the web server is down or listening elsewhere.`,
        evidence: evidence,
      });
    }
    if (count(['host_unreachable']) > 0 || (count(['net_unreachable']) > 0 && someControlReachable(obs))) {
      return verdict({
        cause: 'server_fault',
        code: 'tcp.unreachable',
        confidence: 0.6,
        summary:
          'A router reports the server unreachable (ICMP): the host is down or disconnected, or a filter rejects traffic to it.',
        evidence: evidence,
      });
    }
    if (count(['timeout']) > 0) {
      if (someControlReachable(obs)) {
        return verdict({
          cause: 'filtered_path',
          code: 'filter.blackhole',
          confidence: 0.6,
          summary: `Connections to ${target.host} are silently dropped while other sites work: a filter is blackholing this address, or the host is down (the two look the same from here).`,
          evidence: evidence,
        });
      }
      return verdict({
        cause: 'filtered_path',
        code: 'tcp.timeout',
        confidence: 0.4,
        summary: `No answer to our connection attempts to ${target.host}: a filter dropping them, the host being down, or this network failing all look alike (add --control to tell).`,
        evidence: evidence,
      });
    }
    return verdict({
      cause: 'server_fault',
      code: 'tcp.error',
      confidence: 0.5,
      summary: `Connecting to ${target.host} failed (${failures[0]?.errno ?? 'unknown error'}).`,
      evidence: evidence,
    });
  },
};

export const tlsDifferential: Rule = {
  name: 'tls-differential',
  apply: (obs) => {
    const { tls, differential } = obs.target;
    if (!tls || tls.outcome === 'established') return undefined;
    const evidence = [describeTls(tls), ...(differential?.steps.map((s) => `differential: ${s}`) ?? [])];
    const host = obs.target.host;
    if (differential?.layer === 'tls') {
      const { neutral, retry } = differential;
      const isDrop = differential.trigger === 'tls_timeout';
      // A dropped ClientHello counts only when the original handshake had the whole budget to complete.
      const isWholeBudget = !isDrop || differential.isConcurrent === true;
      if (isWholeBudget && neutral.outcome === 'established' && retry.outcome !== 'established') {
        const how = isDrop ? 'dropped' : differential.trigger === 'tls_closed' ? 'closed' : 'reset';
        return verdict({
          cause: 'filtered_path',
          code: isDrop ? 'filter.sni_drop' : 'filter.sni_reset',
          confidence: isDrop ? 0.6 : 0.85,
          summary: `Connections carrying the name ${host} in the TLS handshake (SNI) are ${how}, while the same server completes a handshake without it: a filter on the path is blocking this site by name.`,
          evidence: evidence,
        });
      }
      if (retry.outcome === 'established') {
        return verdict({
          cause: 'server_fault',
          code: 'tls.handshake_failed',
          confidence: 0.4,
          summary:
            'The TLS handshake failed once and then succeeded: an intermittent fault at the server or on the path.',
          evidence: evidence,
        });
      }
    }
    return verdict({
      cause: 'server_fault',
      code: 'tls.handshake_failed',
      confidence: tls.outcome === 'alert' ? 0.8 : 0.65,
      summary: `The TLS handshake with ${host} failed (${tls.outcome}${tls.errno ? `, ${tls.errno}` : ''}) even without the site's name: the server's TLS setup is broken${tls.outcome === 'alert' ? '' : ', or a filter blocks the whole address'}.`,
      evidence: evidence,
    });
  },
};

const certificateCodes: Record<
  string,
  { code: VerdictCode; confidence: number; summary: (host: string) => string }
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

export const tlsCertificate: Rule = {
  name: 'tls-certificate',
  apply: (obs) => {
    const { tls, host } = obs.target;
    if (tls?.outcome !== 'established' || tls.isTrusted) return undefined;
    const known = certificateCodes[tls.verifyError ?? ''];
    const evidence = [describeTls(tls)];
    if (known)
      return verdict({
        cause: 'server_fault',
        code: known.code,
        confidence: known.confidence,
        summary: known.summary(host),
        evidence: evidence,
      });
    return verdict({
      cause: 'server_fault',
      code: 'tls.untrusted',
      confidence: 0.85,
      summary: `The TLS certificate of ${host} is not issued by a trusted authority (${tls.verifyError}): fix the chain on the server, or pass its private CA with --ca.`,
      evidence: evidence,
    });
  },
};
