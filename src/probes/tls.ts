// TLS probe: a handshake on a connected socket (SNI = host), with the certificate and how it was judged.
// The certificate must cover the SNI name, or with no SNI (an address as the URL's host) the address itself.
import type net from 'node:net';
import tls from 'node:tls';
import type { CertificateSummary, TlsObservation, TlsOutcomeKind } from '../types.js';
import { unacknowledgedBytesOf } from './tcp-queue.js';
import { elapsedSince, errnoOf } from './util.js';

export interface TlsHandshakeOptions {
  socket: net.Socket;
  address: string;
  /**
   * The name sent as SNI and checked against the certificate; null sends no SNI (an address as the URL's host,
   * or the neutral probe) and the certificate is checked against `address`.
   */
  servername: string | null;
  /** Extra trusted CAs (PEM), added to Node's root store. */
  ca?: string[];
  timeoutMs: number;
  signal: AbortSignal;
  /**
   * Also offer TLS 1.0 and 1.1 and the ciphers OpenSSL 3 leaves out by default: only to learn what a server that
   * refused the normal handshake does speak, never to fetch a page.
   */
  isLegacyOffered?: boolean;
}

export interface TlsHandshakeResult {
  observation: TlsObservation;
  /** The established TLS socket; the caller owns it. */
  socket?: tls.TLSSocket;
}

export function trustedCas(extra: string[] | undefined): string[] | undefined {
  return extra && extra.length > 0 ? [...tls.rootCertificates, ...extra] : undefined;
}

const abortedMessage = 'no TLS handshake before the deadline';

export function handshakeTls(options: TlsHandshakeOptions): Promise<TlsHandshakeResult> {
  // Ends as an abort midway does, with no ClientHello sent: a listener added to an aborted signal never runs.
  if (options.signal.aborted) {
    options.socket.destroy();
    return Promise.resolve({
      observation: {
        address: options.address,
        servername: options.servername,
        outcome: 'timeout',
        handshakeMs: 0,
        isTrusted: false,
        errno: 'ETIMEDOUT',
        message: abortedMessage,
        bytesSent: 0,
      },
    });
  }
  return new Promise((resolve) => {
    const started = performance.now();
    const raw = options.socket;
    const bytesBefore = raw.bytesWritten;
    let hasPeerFin = false;
    raw.once('end', () => {
      hasPeerFin = true;
    });
    const socket = tls.connect({
      socket: raw,
      servername: options.servername ?? undefined,
      ca: trustedCas(options.ca),
      rejectUnauthorized: false,
      // Node checks a connection without SNI against 'localhost' (a socket connected to an address keeps no
      // host): the identity is checked below instead, against the name or the address this probe used.
      checkServerIdentity: () => undefined,
      ALPNProtocols: ['http/1.1'],
      ...(options.isLegacyOffered ? { minVersion: 'TLSv1' as const, ciphers: 'DEFAULT:@SECLEVEL=0' } : {}),
    });
    let isDone = false;
    const base = { address: options.address, servername: options.servername };
    const finish = (observation: TlsObservation, keep: boolean) => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('secureConnect');
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      if (keep) {
        resolve({ observation, socket });
        return;
      }
      // No answer to a ClientHello that went out: whether the server's TCP acknowledged it tells a server that
      // got it and stays silent from a path that lost it. Both ends are asked before the socket forgets them.
      const localPort = raw.localPort;
      const remotePort = raw.remotePort;
      socket.destroy();
      raw.destroy();
      if (observation.outcome !== 'timeout' || observation.bytesSent === 0 || !localPort || !remotePort) {
        resolve({ observation });
        return;
      }
      unacknowledgedBytesOf({ localPort, remoteAddress: options.address, remotePort }).then(
        (unacknowledgedBytes) => {
          if (unacknowledgedBytes !== undefined) observation.unacknowledgedBytes = unacknowledgedBytes;
          resolve({ observation });
        },
        () => resolve({ observation }),
      );
    };
    const fail = (outcome: TlsOutcomeKind, errno?: string, message?: string) =>
      finish(
        {
          ...base,
          outcome,
          handshakeMs: elapsedSince(started),
          isTrusted: false,
          errno,
          message,
          bytesSent: raw.bytesWritten - bytesBefore,
        },
        false,
      );
    const onAbort = () => fail('timeout', 'ETIMEDOUT', abortedMessage);
    const timer = setTimeout(onAbort, options.timeoutMs);
    options.signal.addEventListener('abort', onAbort, { once: true });

    socket.once('secureConnect', () => {
      const certificate = socket.getPeerCertificate();
      const summary = summarize(certificate);
      let verifyError = socket.authorizationError ? String(socket.authorizationError) : undefined;
      if (!verifyError && certificate && Object.keys(certificate).length > 0) {
        // A client of https://192.0.2.1/ or https://[2001:db8::1]/ sends no SNI (RFC 6066 forbids an address
        // there) and wants an IP entry in subjectAltName for that address.
        const identityError = tls.checkServerIdentity(options.servername ?? options.address, certificate);
        if (identityError) verifyError = errnoOf(identityError) ?? identityError.message;
      }
      const outOfDate =
        verifyError === 'CERT_HAS_EXPIRED' || verifyError === 'CERT_NOT_YET_VALID'
          ? outOfDateCertificateOf(socket.getPeerCertificate(true))
          : undefined;
      finish(
        {
          ...base,
          outcome: 'established',
          handshakeMs: elapsedSince(started),
          protocol: socket.getProtocol() ?? undefined,
          alpn: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : undefined,
          certificate: summary,
          verifyError,
          ...(outOfDate ? { outOfDateCertificate: outOfDate } : {}),
          isTrusted: verifyError === undefined,
          bytesSent: raw.bytesWritten - bytesBefore,
        },
        true,
      );
    });
    socket.once('error', (error) => {
      const errno = errnoOf(error);
      fail(tlsFailureKind(errno, error.message, hasPeerFin), errno, error.message);
    });
  });
}

export function tlsFailureKind(
  errno: string | undefined,
  message: string,
  hasPeerFin: boolean,
): TlsOutcomeKind {
  if (/alert/i.test(message) || errno?.startsWith('ERR_SSL')) return 'alert';
  // Node reports a FIN during the handshake as ECONNRESET "socket disconnected": the raw 'end' tells them apart.
  if (errno === 'ECONNRESET' && hasPeerFin) return 'closed';
  if (errno === 'ECONNRESET' && /disconnected before secure TLS/i.test(message)) return 'closed';
  if (errno === 'ECONNRESET' || errno === 'EPIPE') return 'reset';
  if (errno === 'ETIMEDOUT') return 'timeout';
  return 'error';
}

/**
 * The first certificate of the chain, from the site's own up, whose dates do not cover now: which one expired (or
 * is not valid yet) when OpenSSL says one did. The chain ends at a self-issued certificate or one seen before.
 */
function outOfDateCertificateOf(leaf: tls.DetailedPeerCertificate): TlsObservation['outOfDateCertificate'] {
  const now = Date.now();
  const seen = new Set<string>();
  let certificate: tls.DetailedPeerCertificate | undefined = leaf;
  for (let depth = 0; certificate && depth < 10 && !seen.has(certificate.fingerprint256); depth++) {
    seen.add(certificate.fingerprint256);
    const validFrom = Date.parse(certificate.valid_from);
    const validTo = Date.parse(certificate.valid_to);
    if (now < validFrom || now > validTo) {
      return {
        depth,
        subject: summarize(certificate)?.subject ?? '',
        validFrom: new Date(validFrom).toISOString(),
        validTo: new Date(validTo).toISOString(),
      };
    }
    certificate = certificate.issuerCertificate;
  }
  return undefined;
}

function summarize(certificate: tls.PeerCertificate | undefined): CertificateSummary | undefined {
  if (!certificate || Object.keys(certificate).length === 0) return undefined;
  const name = (entity: tls.Certificate | undefined) =>
    entity
      ? Object.entries(entity)
          .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : value}`)
          .join(', ')
      : '';
  const issuerUrls = certificate.infoAccess?.['CA Issuers - URI'] ?? [];
  return {
    subject: name(certificate.subject),
    subjectAltNames: (certificate.subjectaltname ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter(Boolean),
    issuer: name(certificate.issuer),
    validFrom: new Date(certificate.valid_from).toISOString(),
    validTo: new Date(certificate.valid_to).toISOString(),
    fingerprint256: certificate.fingerprint256,
    ...(issuerUrls.length > 0 ? { issuerCertificateUrls: issuerUrls } : {}),
  };
}
