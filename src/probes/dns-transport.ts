// DNS transport: one query over a connected UDP socket (listening on for injected replies), or over TCP.
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { DecodedPacket, OptAnswer, Packet } from 'dns-packet';
import type { DnsRecordType, ResolverSpec } from '../types.js';
import { errnoOf } from './util.js';

// CommonJS, loaded with require rather than import: no export lexing at start-up (docs/architecture.md).
const dnsPacket = createRequire(import.meta.url)('dns-packet') as typeof import('dns-packet');

export interface TransportOptions {
  /** Per attempt. */
  attemptTimeoutMs: number;
  /** How long to keep listening after the first reply for a second, injected one. */
  injectionWindowMs: number;
  signal: AbortSignal;
  /** Ask without EDNS: for a server that answered an EDNS query with FORMERR. */
  isWithoutEdns?: boolean;
}

export interface RawReply {
  packet: DecodedPacket & { rcode?: string };
  atMs: number;
}

export type QueryAttempt =
  | { kind: 'reply'; first: RawReply; extras: Promise<RawReply[]>; isTruncated: boolean }
  | { kind: 'timeout' }
  | { kind: 'error'; errno?: string; message: string };

/**
 * EDNS(0) as every current stub sends it (RFC 6891): 1232 bytes of UDP payload, the size the 2020 DNS flag day
 * settled on so replies are not fragmented, and the OPT record a resolver needs to attach Extended DNS Errors.
 */
const ednsRecord: OptAnswer = {
  type: 'OPT',
  name: '.',
  udpPayloadSize: 1232,
  extendedRcode: 0,
  ednsVersion: 0,
  flags: 0,
  flag_do: false,
  options: [],
};

function queryPacket(id: number, name: string, type: DnsRecordType, isEdns: boolean): Packet {
  return {
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    ...(isEdns ? { additionals: [ednsRecord] } : {}),
  };
}

/**
 * A reply refusing EDNS itself: FORMERR (or NOTIMP) with no OPT record, an old server that does not parse it. The
 * query is asked again without EDNS (RFC 6891 section 7).
 */
export function isEdnsRefused(packet: DecodedPacket & { rcode?: string }): boolean {
  return (
    (packet.rcode === 'FORMERR' || packet.rcode === 'NOTIMP') &&
    !(packet.additionals ?? []).some((record) => record.type === 'OPT')
  );
}

/**
 * One UDP attempt on a connected socket (so ICMP port/host unreachable surfaces as an error).
 * The socket stays open for the injection window after the first reply, collecting any further reply.
 */
export function queryUdp(
  resolver: ResolverSpec,
  name: string,
  type: DnsRecordType,
  options: TransportOptions,
): Promise<QueryAttempt> {
  // Ends as an abort midway does, without a socket: a listener added to an aborted signal would never run.
  if (options.signal.aborted) return Promise.resolve({ kind: 'timeout' });
  return new Promise((resolve) => {
    const id = randomInt(0, 65536);
    const socket = dgram.createSocket(net.isIPv6(resolver.host) ? 'udp6' : 'udp4');
    const extras: RawReply[] = [];
    let first: RawReply | undefined;
    let settleExtras: ((replies: RawReply[]) => void) | undefined;
    let attemptTimer: NodeJS.Timeout | undefined;
    let windowTimer: NodeJS.Timeout | undefined;
    let isClosed = false;

    const close = () => {
      if (isClosed) return;
      isClosed = true;
      clearTimeout(attemptTimer);
      clearTimeout(windowTimer);
      options.signal.removeEventListener('abort', onAbort);
      socket.close();
      settleExtras?.(extras);
    };
    const finish = (attempt: QueryAttempt) => {
      if (first === undefined) {
        close();
        resolve(attempt);
      }
    };
    const onAbort = () => finish({ kind: 'timeout' });

    socket.on('error', (error) => finish({ kind: 'error', errno: errnoOf(error), message: error.message }));
    socket.on('message', (message) => {
      let packet: RawReply['packet'];
      try {
        packet = dnsPacket.decode(message) as RawReply['packet'];
      } catch {
        return; // not DNS: ignore, as a stub resolver would
      }
      if (packet.id !== id || packet.type !== 'response') return;
      const reply = { packet, atMs: performance.now() };
      if (first !== undefined) {
        extras.push(reply);
        return;
      }
      first = reply;
      clearTimeout(attemptTimer);
      const extrasPromise = new Promise<RawReply[]>((settle) => {
        settleExtras = settle;
      });
      windowTimer = setTimeout(close, options.injectionWindowMs);
      resolve({ kind: 'reply', first: reply, extras: extrasPromise, isTruncated: packet.flag_tc });
    });
    options.signal.addEventListener('abort', onAbort, { once: true });
    attemptTimer = setTimeout(() => finish({ kind: 'timeout' }), options.attemptTimeoutMs);
    // dgram hands a failed connect (ENETUNREACH: no route) to this callback, not to 'error'.
    socket.connect(resolver.port, resolver.host, (connectError?: Error) => {
      if (connectError) {
        finish({ kind: 'error', errno: errnoOf(connectError), message: connectError.message });
        return;
      }
      socket.send(dnsPacket.encode(queryPacket(id, name, type, options.isWithoutEdns !== true)), (error) => {
        if (error) finish({ kind: 'error', errno: errnoOf(error), message: error.message });
      });
    });
  });
}

/** How a query over TCP failed: no reply in time, a socket error (refused, reset), or closed without a reply. */
export interface TcpQueryFailure {
  kind: 'timeout' | 'error' | 'closed';
  errno?: string;
}

/** The same query over TCP, after a truncated UDP reply. */
export function queryTcp(
  resolver: ResolverSpec,
  name: string,
  type: DnsRecordType,
  options: TransportOptions,
): Promise<RawReply | TcpQueryFailure> {
  if (options.signal.aborted) return Promise.resolve({ kind: 'timeout' });
  return new Promise((resolve) => {
    const id = randomInt(0, 65536);
    const socket = net.connect({ host: resolver.host, port: resolver.port });
    let buffer = Buffer.alloc(0);
    const done = (reply: RawReply | TcpQueryFailure) => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(reply);
    };
    const onAbort = () => done({ kind: 'timeout' });
    const timer = setTimeout(() => done({ kind: 'timeout' }), options.attemptTimeoutMs);
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (error) => done({ kind: 'error', errno: errnoOf(error) }));
    socket.on('connect', () => {
      socket.write(dnsPacket.streamEncode(queryPacket(id, name, type, options.isWithoutEdns !== true)));
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 2) return;
      const length = buffer.readUInt16BE(0);
      if (buffer.length < length + 2) return;
      try {
        const packet = dnsPacket.decode(buffer.subarray(2, length + 2)) as RawReply['packet'];
        done(packet.id === id ? { packet, atMs: performance.now() } : { kind: 'closed' });
      } catch {
        done({ kind: 'closed' });
      }
    });
    socket.on('end', () => done({ kind: 'closed' }));
  });
}
