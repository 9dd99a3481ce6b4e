// A second look at a port whose server refused the TLS handshake: what it speaks instead, as evidence for the verdict.
import type net from 'node:net';
import type { TlsFollowUp, TlsObservation } from '../types.js';
import { userAgent } from './http.js';
import type { TargetProbeOptions } from './probe-context.js';
import { connectOnce } from './tcp.js';
import { handshakeTls } from './tls.js';
import { elapsedSince, errnoOf, familyOfAddress, remainingMs } from './util.js';

/** OpenSSL's words for "no TLS version or cipher in common": the server may speak only older ones. */
const versionOrCipherErrnos = new Set([
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
  'ERR_SSL_TLSV1_ALERT_INSUFFICIENT_SECURITY',
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_SSL_NO_PROTOCOLS_AVAILABLE',
]);

/** OpenSSL's words for a reply whose first bytes are not a TLS record (`HTTP/1.1 400` reads as version 0x5454). */
const notTlsErrnos = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG']);

/** The follow-up's share of what is left of the budget: the report must still come in time. */
const budgetShare = 0.5;
const replyPrefixChars = 120;

export async function followUpTlsFailure(
  failed: TlsObservation,
  port: number,
  options: TargetProbeOptions,
): Promise<TlsFollowUp | undefined> {
  if (failed.outcome !== 'alert' || failed.errno === undefined) return undefined;
  if (versionOrCipherErrnos.has(failed.errno)) return legacyHandshake(failed, port, options);
  if (notTlsErrnos.has(failed.errno)) return plaintextRequest(failed, port, options);
  return undefined;
}

/**
 * A new connection to the address whose handshake failed, given its share of what is left of the budget: the
 * socket, or the errno of the connect that failed.
 */
async function reconnect(
  failed: TlsObservation,
  port: number,
  options: TargetProbeOptions,
): Promise<{ started: number; timeoutMs: number; socket?: net.Socket; errno?: string }> {
  const started = performance.now();
  const timeoutMs = Math.max(1, Math.round(remainingMs(options.deadlineMs, 1) * budgetShare));
  const connected = await connectOnce(failed.address, {
    port,
    timeoutMs,
    signal: options.signal,
    isAddressAllowed: options.isAddressAllowed,
  });
  if (connected.socket) return { started, timeoutMs, socket: connected.socket };
  const errno = connected.outcome.kind === 'connected' ? undefined : connected.outcome.errno;
  return { started, timeoutMs, errno };
}

async function legacyHandshake(
  failed: TlsObservation,
  port: number,
  options: TargetProbeOptions,
): Promise<TlsFollowUp> {
  const { started, timeoutMs, socket, errno: connectErrno } = await reconnect(failed, port, options);
  if (!socket) {
    return {
      kind: 'legacy_handshake',
      outcome: 'error',
      errno: connectErrno,
      elapsedMs: elapsedSince(started),
    };
  }
  const handshake = await handshakeTls({
    socket,
    address: failed.address,
    servername: failed.servername,
    ca: options.ca,
    timeoutMs,
    signal: options.signal,
    isLegacyOffered: true,
  });
  const cipher = handshake.socket?.getCipher()?.name;
  handshake.socket?.destroy();
  const { outcome, protocol, errno } = handshake.observation;
  return {
    kind: 'legacy_handshake',
    outcome,
    ...(protocol ? { protocol } : {}),
    ...(cipher ? { cipher } : {}),
    ...(errno ? { errno } : {}),
    elapsedMs: elapsedSince(started),
  };
}

/** `HEAD /` in plain text on a new connection; the reply's first bytes say what listens there. */
async function plaintextRequest(
  failed: TlsObservation,
  port: number,
  options: TargetProbeOptions,
): Promise<TlsFollowUp> {
  const { started, timeoutMs, socket, errno } = await reconnect(failed, port, options);
  if (!socket) {
    return {
      kind: 'plaintext_request',
      outcome: 'error',
      replyPrefix: '',
      errno,
      elapsedMs: elapsedSince(started),
    };
  }
  const host =
    failed.servername ?? (familyOfAddress(failed.address) === 6 ? `[${failed.address}]` : failed.address);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let isDone = false;
    const finish = (outcome: 'response' | 'no_response' | 'error', errno?: string) => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      const replyPrefix = Buffer.concat(chunks).toString('latin1').slice(0, replyPrefixChars);
      const statusLine = /^HTTP\/\d(?:\.\d)? \d{3}[^\r\n]*/.exec(replyPrefix)?.[0];
      resolve({
        kind: 'plaintext_request',
        outcome: chunks.length > 0 ? 'response' : outcome,
        ...(statusLine ? { statusLine } : {}),
        replyPrefix,
        ...(errno ? { errno } : {}),
        elapsedMs: elapsedSince(started),
      });
    };
    const onAbort = () => finish('no_response', 'ETIMEDOUT');
    const timer = setTimeout(onAbort, timeoutMs);
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).includes('\n')) finish('response');
    });
    socket.once('end', () => finish('no_response'));
    socket.once('error', (error) => finish('error', errnoOf(error)));
    socket.write(`HEAD / HTTP/1.1\r\nHost: ${host}\r\nuser-agent: ${userAgent}\r\nconnection: close\r\n\r\n`);
  });
}
