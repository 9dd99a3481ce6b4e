// Rules for TLS handshakes: refused by the server, SNI filtering, certificates, client certificates.

import type { CertificateSummary, TlsObservation } from '../types.js';
import type { VerdictCode } from './codes.js';
import { describeExchange, describeTls, describeTlsFollowUp } from './describe.js';
import type { Finding, Rule } from './verdict.js';
import { verdict } from './verdict.js';

/** OpenSSL's words when the first bytes of the reply are not a TLS record. */
const notTlsErrnos = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);
/** Versions this client offers by default: a legacy handshake that lands on one was refused for its cipher. */
const modernProtocols = new Set(['TLSv1.2', 'TLSv1.3']);
/** Alerts that say the server will not speak any TLS version this client offers. */
const versionErrnos = new Set(['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'ERR_SSL_UNSUPPORTED_PROTOCOL']);

/**
 * A handshake the server itself refused, and why: a port that does not speak TLS, a server that speaks only
 * versions or ciphers modern clients refuse, a name the server does not serve. An alert is the server's own
 * answer (a filter resets or drops; it does not negotiate), so none of these is a filter.
 */
export const tlsRefused: Rule = {
  name: 'tls-refused',
  apply: (obs) => {
    const { tls, host, port } = obs.target;
    if (tls?.outcome !== 'alert' || tls.errno === undefined) return undefined;
    const followUp = tls.followUp;
    const evidence = [describeTls(tls), ...(followUp ? [describeTlsFollowUp(followUp)] : [])];
    const statusLine = followUp?.kind === 'plaintext_request' ? followUp.statusLine : undefined;
    if (notTlsErrnos.has(tls.errno) && statusLine) {
      return verdict({
        cause: 'server_fault',
        code: 'tls.not_tls',
        confidence: 0.9,
        summary: `${tls.address}:${port} answers plain HTTP, not TLS (a plain-text request gets "${statusLine}"): the https site of ${host} is misconfigured (a plain-http listener on its TLS port), or a proxy on the way answers in its place.`,
        evidence,
      });
    }
    const legacy =
      followUp?.kind === 'legacy_handshake' && followUp.outcome === 'established' ? followUp : undefined;
    if (legacy) {
      return verdict({
        cause: 'server_fault',
        code: 'tls.version_or_cipher_mismatch',
        confidence: 0.9,
        summary: modernProtocols.has(legacy.protocol ?? '')
          ? `The server of ${host} completes a handshake only with the cipher ${legacy.cipher ?? '(unnamed)'} (${legacy.protocol}), which this client's defaults refuse as too weak, as recent browsers and curl builds may: the server should enable current ciphers (ECDHE with AES-GCM or ChaCha20).`
          : `The server of ${host} completes a handshake only with ${legacy.protocol ?? 'an old TLS version'}${legacy.cipher ? ` and ${legacy.cipher}` : ''}, which browsers, curl and reach no longer accept: the server must enable TLS 1.2 or 1.3 with current ciphers.`,
        evidence,
      });
    }
    return refusalByErrno(tls.errno, {
      host,
      address: tls.address,
      port,
      hasServername: tls.servername !== null,
      lead: '',
      evidence,
    });
  },
};

/**
 * A refusal named by the handshake's error alone, with no second look: the target's when its follow-up found
 * nothing more, or a redirect hop's (rules-http.ts), whose handshake gets no follow-up.
 */
export function refusalByErrno(
  errno: string,
  context: {
    host: string;
    address: string;
    port: number;
    hasServername: boolean;
    /** Words before the summary, naming the redirect that led there (empty for the target). */
    lead: string;
    evidence: string[];
  },
): Finding | undefined {
  const { host, address, port, lead, evidence } = context;
  if (notTlsErrnos.has(errno)) {
    return verdict({
      cause: 'server_fault',
      code: 'tls.not_tls',
      confidence: 0.7,
      summary: `${lead}${address}:${port} replies to the TLS handshake with something that is not TLS: the port serves another protocol, or the https site of ${host} is misconfigured.`,
      evidence,
    });
  }
  if (versionErrnos.has(errno)) {
    return verdict({
      cause: 'server_fault',
      code: 'tls.version_or_cipher_mismatch',
      confidence: 0.75,
      summary: `${lead}The server of ${host} refuses every TLS version this client offers (TLS 1.2 and 1.3): it is set up for other versions only, and browsers and curl fail the same way.`,
      evidence,
    });
  }
  if (errno === certificateRequiredErrno) return clientCertificateVerdict(host, evidence, lead);
  if (errno === 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME') {
    return verdict({
      cause: 'server_fault',
      code: 'tls.unrecognized_name',
      confidence: 0.85,
      summary: context.hasServername
        ? `${lead}The server at ${address} refuses the handshake for the name ${host} (an unrecognized_name alert): it has no site configured for this name. The name's DNS points at the wrong server, or the site is missing from that server's configuration.`
        : `${lead}The server at ${address} refuses a handshake that names no site (an unrecognized_name alert; a URL with an address sends no name): it serves only the names it knows. Use the site's name in the URL.`,
      evidence,
    });
  }
  return undefined;
}

/** The alert a TLS 1.3 server sends when the client has no certificate to give (RFC 8446, certificate_required). */
const certificateRequiredErrno = 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED';
/**
 * nginx's answer to a connection without the client certificate `ssl_verify_client on` requires: it completes
 * the handshake and answers 400 with this title (its internal status 496).
 */
const nginxNoCertificatePage = 'No required SSL certificate was sent';

function clientCertificateVerdict(host: string, evidence: string[], lead = '') {
  return verdict({
    cause: 'server_fault',
    code: 'tls.client_cert_required',
    confidence: 0.9,
    summary: `${lead}The server of ${host} requires a client certificate (TLS client authentication) and refuses connections without one: it is meant for clients that were issued a certificate. The network is not at fault.`,
    evidence,
  });
}

/**
 * A server that asks for a client certificate and refuses the connection without one, after the handshake: a
 * TLS 1.3 certificate_required alert on the exchange, or nginx's 400 page that says so.
 */
export const tlsClientCertificate: Rule = {
  name: 'tls-client-certificate',
  apply: (obs) => {
    const { tls, host } = obs.target;
    // A failed handshake is read by the rules above; an http URL may still redirect to such a server.
    if (tls && tls.outcome !== 'established') return undefined;
    const exchanges = obs.target.http?.hops.map((hop) => hop.exchange) ?? [];
    const refused = exchanges.find(
      (exchange) =>
        exchange.errno === certificateRequiredErrno ||
        (exchange.status === 400 &&
          exchange.url.startsWith('https:') &&
          exchange.bodyPrefix?.includes(nginxNoCertificatePage) === true),
    );
    if (!refused) return undefined;
    const evidence = [...(tls ? [describeTls(tls)] : []), describeExchange(refused)];
    if (refused.errno === certificateRequiredErrno) {
      evidence.push(`the server closed the connection with a certificate_required alert (${refused.errno})`);
    } else {
      evidence.push(
        `the 400 page says "${nginxNoCertificatePage}" (nginx's answer without a client certificate)`,
      );
    }
    return clientCertificateVerdict(host, evidence);
  },
};

/** Whether a certificate names `host`: a subjectAltName entry, or a wildcard covering one label (RFC 6125). */
export function certificateCovers(certificate: CertificateSummary, host: string): boolean {
  const name = host.toLowerCase();
  const dnsNames = certificate.subjectAltNames
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  const commonName = /(?:^|, )CN=([^,]+)/.exec(certificate.subject)?.[1]?.toLowerCase();
  const names = dnsNames.length > 0 ? dnsNames : commonName ? [commonName] : [];
  return names.some(
    (pattern) =>
      pattern === name ||
      (pattern.startsWith('*.') &&
        name.slice(name.indexOf('.') + 1) === pattern.slice(2) &&
        name.indexOf('.') > 0),
  );
}

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
        // The kernel's word on the ClientHello (Linux): acknowledged by the server's TCP, or never.
        const unacknowledged = tls.unacknowledgedBytes;
        const isHelloReceived = isDrop && unacknowledged !== undefined && unacknowledged < tls.bytesSent;
        const isHelloLost =
          isDrop && unacknowledged !== undefined && tls.bytesSent > 0 && unacknowledged >= tls.bytesSent;
        if (isHelloReceived) {
          // The server got the ClientHello naming the site and kept silent: no filter between us dropped it.
          return verdict({
            cause: 'server_fault',
            code: 'tls.handshake_failed',
            confidence: 0.6,
            summary: `The server received our TLS ClientHello naming ${host} (its TCP acknowledged it) but never answered it in the whole time allowed, while it completes a handshake without the name: the server, or the TLS front end that routes this name, hangs for this site. A transparent proxy that answers for the server at the TCP level and drops the name would look the same; a probe from another network tells them apart.`,
            evidence: [
              ...evidence,
              `tcp: the server acknowledged our ClientHello (${unacknowledged} of ${tls.bytesSent} bytes left unacknowledged)`,
            ],
          });
        }
        if (isHelloLost) {
          evidence.push(
            `tcp: our ClientHello was never acknowledged (${unacknowledged} bytes outstanding of ${tls.bytesSent} sent)`,
          );
        }
        const how = isDrop ? 'dropped' : differential.trigger === 'tls_closed' ? 'closed' : 'reset';
        // A server whose default certificate covers the name hosts the site: its refusing the name is unlikely.
        // One that does not may not host it, and some gateways close or reset a handshake for a name they do not
        // serve (no alert): weaker evidence of a filter, and the summary says so.
        const isNameHostedThere =
          neutral.certificate !== undefined && certificateCovers(neutral.certificate, host);
        if (!isNameHostedThere) {
          evidence.push(
            `the certificate the server presents without SNI (${neutral.certificate?.subject ?? 'none'}) does not cover ${host}`,
          );
        }
        const hedge = isNameHostedThere
          ? ''
          : ` The certificate this server presents without SNI does not cover ${host}, so a server that ${how === 'dropped' ? 'ignores' : 'refuses'} names it does not host looks the same from here; a probe from another network tells them apart.`;
        return verdict({
          cause: 'filtered_path',
          code: isDrop ? 'filter.sni_drop' : 'filter.sni_reset',
          confidence: (isDrop ? (isHelloLost ? 0.7 : 0.6) : 0.85) - (isNameHostedThere ? 0 : 0.15),
          summary: `Connections carrying the name ${host} in the TLS handshake (SNI) are ${how}, while the same server completes a handshake without it: a filter on the path is blocking this site by name.${isHelloLost ? " The ClientHello naming it never reached the server's TCP (never acknowledged)." : ''}${hedge}`,
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
    // Only a handshake without SNI that failed too shows the name is not what fails (an alert gets no differential).
    const isNeutralFailed = differential?.layer === 'tls' && differential.neutral.outcome !== 'established';
    return verdict({
      cause: 'server_fault',
      code: 'tls.handshake_failed',
      confidence: tls.outcome === 'alert' ? 0.8 : 0.65,
      summary: `The TLS handshake with ${host} failed (${tls.outcome}${tls.errno ? `, ${tls.errno}` : ''})${isNeutralFailed ? " even without the site's name" : ''}: the server's TLS setup is broken${tls.outcome === 'alert' ? '' : ', or a filter blocks the whole address'}.`,
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

/**
 * The first handshake whose certificate was not trusted: the target's own, or that of an https hop a redirect
 * led to (an http site sending everyone to an https address with a bad certificate fails in every browser).
 */
function untrustedHandshake(
  obs: Parameters<Rule['apply']>[0],
): { tls: TlsObservation; host: string; lead: string; evidence: string[] } | undefined {
  const { tls, host } = obs.target;
  if (tls?.outcome === 'established') {
    return tls.isTrusted ? undefined : { tls, host, lead: '', evidence: [] };
  }
  const hops = obs.target.http?.hops ?? [];
  const index = hops.findIndex(
    (hop) => hop.exchange.tls?.outcome === 'established' && !hop.exchange.tls.isTrusted,
  );
  const hop = hops[index]?.exchange;
  if (!hop?.tls) return undefined;
  return {
    tls: hop.tls,
    host: hop.servername ?? hop.address,
    lead: `${host} redirects to ${hop.url}. `,
    evidence: hops.slice(0, index + 1).map((each) => describeExchange(each.exchange)),
  };
}

export const tlsCertificate: Rule = {
  name: 'tls-certificate',
  apply: (obs) => {
    const found = untrustedHandshake(obs);
    if (!found) return undefined;
    const { tls, host, lead } = found;
    const known = certificateCodes[tls.verifyError ?? ''];
    const evidence = [...found.evidence, describeTls(tls)];
    const certificate = tls.certificate;
    const issuer = certificate?.issuer || 'an unnamed issuer';
    if (tls.verifyError === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') {
      // OpenSSL says this when the server sent its certificate alone and nothing trusted issued it. A leaf that
      // names where its issuer's certificate lives (AIA, in every public CA's leaves) had an intermediate left
      // out; without that, a private CA issuing leaves directly looks the same.
      const issuerUrl = certificate?.issuerCertificateUrls?.[0];
      evidence.push(
        `certificate issued by ${issuer}, which the server did not send and no trusted authority is${issuerUrl ? `; the certificate names where to fetch it: ${issuerUrl}` : ''}`,
      );
      if (issuerUrl) {
        return verdict({
          cause: 'server_fault',
          code: 'tls.cert_chain_incomplete',
          confidence: 0.9,
          summary: `${lead}The server of ${host} sends its certificate without the intermediate certificate of its issuer (${issuer}): the chain is incomplete. Browsers often fill the gap (from ${issuerUrl} or their cache); curl, most apps and API clients fail. The server must send the intermediate with its certificate.`,
          evidence,
        });
      }
      return verdict({
        cause: 'server_fault',
        code: 'tls.untrusted',
        confidence: 0.85,
        summary: `${lead}The server of ${host} sends its certificate alone, issued by ${issuer}, which is neither sent nor a trusted authority: a private CA (pass it with --ca), or an intermediate certificate missing from the server's chain.`,
        evidence,
      });
    }
    if (tls.verifyError === 'DEPTH_ZERO_SELF_SIGNED_CERT') {
      return verdict({
        cause: 'server_fault',
        code: 'tls.untrusted',
        confidence: 0.85,
        summary: `${lead}The TLS certificate of ${host} is self-signed (${certificate?.subject ?? 'its subject'} issued it to itself): no client trusts it unless told to. The server needs a certificate from a public CA; if this one is meant to be private, pass it with --ca.`,
        evidence,
      });
    }
    const outOfDate = tls.outOfDateCertificate;
    if (known && outOfDate && outOfDate.depth > 0) {
      // The site's own certificate is current: one the server sends above it is what fails every client.
      const isExpired = tls.verifyError === 'CERT_HAS_EXPIRED';
      evidence.push(
        `certificate at depth ${outOfDate.depth} of the chain (${outOfDate.subject}) valid from ${outOfDate.validFrom} to ${outOfDate.validTo}`,
      );
      return verdict({
        cause: 'server_fault',
        code: known.code,
        confidence: 0.9,
        summary: `${lead}The server of ${host} sends an intermediate certificate (${outOfDate.subject}) that ${isExpired ? `expired on ${outOfDate.validTo.slice(0, 10)}` : `is not valid until ${outOfDate.validFrom.slice(0, 10)}`}: the site's own certificate is current, but clients reject the chain. The server must send its CA's current intermediate with its certificate.`,
        evidence: evidence,
      });
    }
    if (known)
      return verdict({
        cause: 'server_fault',
        code: known.code,
        confidence: known.confidence,
        summary: lead + known.summary(host),
        evidence: evidence,
      });
    return verdict({
      cause: 'server_fault',
      code: 'tls.untrusted',
      confidence: 0.85,
      summary: `${lead}The TLS certificate of ${host} is not issued by a trusted authority (${tls.verifyError}): fix the chain on the server, or pass its private CA with --ca.`,
      evidence: evidence,
    });
  },
};
