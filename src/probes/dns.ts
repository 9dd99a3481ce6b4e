// DNS probe: raw A/AAAA queries (dns-packet) to each resolver in parallel, watching for injected extra replies.

import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type {
  DnsAnswer,
  DnsExtraReply,
  DnsObservation,
  DnsQueryResult,
  DnsRecordType,
  DnsResolverResult,
  ResolverSpec,
} from '../types.js';
import { isBogon, isLocalName } from './addresses.js';
import { elapsedSince, errnoOf } from './util.js';

export interface DnsProbeOptions {
  name: string;
  resolvers: ResolverSpec[];
  /** Per attempt; one retry follows a timeout. */
  attemptTimeoutMs: number;
  /** How long to keep listening after the first reply for a second, injected one. */
  injectionWindowMs: number;
  signal: AbortSignal;
}

interface RawReply {
  packet: dnsPacket.DecodedPacket & { rcode?: string };
  atMs: number;
}

type QueryAttempt =
  | { kind: 'reply'; first: RawReply; extras: Promise<RawReply[]>; isTruncated: boolean }
  | { kind: 'timeout' }
  | { kind: 'error'; errno?: string; message: string };

const maxCnameHops = 8;

export function formatResolver(resolver: ResolverSpec): string {
  return net.isIPv6(resolver.host)
    ? `[${resolver.host}]:${resolver.port}`
    : `${resolver.host}:${resolver.port}`;
}

/** The nameservers of /etc/resolv.conf, the default when the user names none. */
export function systemResolvers(path = '/etc/resolv.conf'): ResolverSpec[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const resolvers: ResolverSpec[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    const host = match?.[1]?.replace(/%.*$/, '');
    if (host && net.isIP(host)) resolvers.push({ host, port: 53 });
  }
  return resolvers;
}

export interface DnsProbeResult {
  observation: DnsObservation;
  /**
   * Settles when every injection window has closed, after adding the late replies to the observation's
   * queries. The probe goes on with the first replies meanwhile and awaits this before it reports.
   */
  lateReplies: Promise<void>;
}

export async function probeDns(options: DnsProbeOptions): Promise<DnsProbeResult> {
  const started = performance.now();
  const windows: Promise<void>[] = [];
  const resolvers = await Promise.all(
    options.resolvers.map(async (resolver): Promise<DnsResolverResult> => {
      const queries = await Promise.all(
        (['A', 'AAAA'] as const).map((type) => resolveType(resolver, options.name, type, options, windows)),
      );
      return { resolver: formatResolver(resolver), queries };
    }),
  );
  const observation: DnsObservation = {
    name: options.name,
    isLocalName: isLocalName(options.name),
    resolvers,
    addresses: [],
    durationMs: elapsedSince(started),
  };
  observation.addresses = chooseAddresses(observation);
  return { observation, lateReplies: Promise.all(windows).then(() => undefined) };
}

/**
 * The addresses to connect to: the union of every resolver's answers, except that when some resolvers
 * answer bogons and others answer public addresses, the bogon side is left out (it is the suspect one).
 */
export function chooseAddresses(observation: DnsObservation): string[] {
  const perResolver = observation.resolvers.map((r) => r.queries.flatMap((q) => q.addresses));
  const clean = perResolver.filter((addresses) => addresses.length > 0 && !addresses.some((a) => isBogon(a)));
  const hasBogonSide = perResolver.some((addresses) => addresses.some((a) => isBogon(a)));
  const chosen = hasBogonSide && clean.length > 0 && !observation.isLocalName ? clean : perResolver;
  const unique = [...new Set(chosen.flat())];
  // IPv4 first: it is what most failing paths are about, and it keeps the order stable for the HTTP phase.
  return [...unique.filter((a) => net.isIPv4(a)), ...unique.filter((a) => net.isIPv6(a))];
}

async function resolveType(
  resolver: ResolverSpec,
  name: string,
  type: DnsRecordType,
  options: DnsProbeOptions,
  windows: Promise<void>[],
): Promise<DnsQueryResult> {
  const started = performance.now();
  const answers: DnsAnswer[] = [];
  const cnameChain: string[] = [];
  const extraReplies: DnsExtraReply[] = [];
  let attempts = 0;
  let isTruncatedRetriedOverTcp = false;
  let queryName = name;

  for (let hop = 0; hop < maxCnameHops; hop++) {
    let attempt: QueryAttempt = { kind: 'timeout' };
    for (let tries = 0; tries < 2 && !options.signal.aborted; tries++) {
      attempts++;
      attempt = await queryUdp(resolver, queryName, type, options);
      if (attempt.kind !== 'timeout') break;
    }
    const base = { type, answers, cnameChain, attempts, isTruncatedRetriedOverTcp, extraReplies };
    if (attempt.kind === 'timeout') {
      return { ...base, outcome: 'timeout', addresses: [], bogons: [], latencyMs: elapsedSince(started) };
    }
    if (attempt.kind === 'error') {
      return {
        ...base,
        outcome: 'error',
        addresses: [],
        bogons: [],
        latencyMs: elapsedSince(started),
        errno: attempt.errno,
        message: attempt.message,
      };
    }
    let reply = attempt.first;
    if (attempt.isTruncated) {
      const overTcp = await queryTcp(resolver, queryName, type, options).catch(() => undefined);
      if (overTcp) {
        reply = overTcp;
        isTruncatedRetriedOverTcp = true;
      }
    }
    const latencyMs = elapsedSince(started);
    const firstAtMs = attempt.first.atMs;
    windows.push(
      attempt.extras.then((extras) => {
        for (const extra of extras) {
          extraReplies.push({
            rcode: extra.packet.rcode ?? 'UNKNOWN',
            addresses: addressesOf(extra.packet, type),
            afterFirstMs: Math.round(extra.atMs - firstAtMs),
          });
        }
      }),
    );
    const rcode = reply.packet.rcode ?? 'UNKNOWN';
    for (const record of reply.packet.answers ?? []) answers.push(toAnswer(record));
    const followed = followCnames(reply.packet, queryName, type);
    cnameChain.push(...followed.cnames);
    const result = { ...base, isTruncatedRetriedOverTcp, rcode, latencyMs };
    if (rcode === 'NXDOMAIN') return { ...result, outcome: 'nxdomain', addresses: [], bogons: [] };
    if (rcode === 'SERVFAIL') return { ...result, outcome: 'servfail', addresses: [], bogons: [] };
    if (rcode === 'REFUSED') return { ...result, outcome: 'refused', addresses: [], bogons: [] };
    if (rcode !== 'NOERROR') return { ...result, outcome: 'other_rcode', addresses: [], bogons: [] };
    if (followed.addresses.length > 0) {
      const bogons = isLocalName(name) ? [] : followed.addresses.filter((a) => isBogon(a));
      return { ...result, outcome: 'answer', addresses: followed.addresses, bogons };
    }
    // A CNAME whose target the resolver did not resolve for us: ask for the target.
    if (followed.cnames.length > 0 && followed.finalName !== queryName) {
      queryName = followed.finalName;
      continue;
    }
    return { ...result, outcome: 'nodata', addresses: [], bogons: [] };
  }
  return {
    type,
    outcome: 'error',
    answers,
    cnameChain,
    addresses: [],
    bogons: [],
    attempts,
    isTruncatedRetriedOverTcp,
    extraReplies,
    latencyMs: elapsedSince(started),
    message: `more than ${maxCnameHops} CNAME hops`,
  };
}

function buildQuery(id: number, name: string, type: DnsRecordType): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  });
}

/**
 * One UDP attempt on a connected socket (so ICMP port/host unreachable surfaces as an error).
 * The socket stays open for the injection window after the first reply, collecting any further reply.
 */
function queryUdp(
  resolver: ResolverSpec,
  name: string,
  type: DnsRecordType,
  options: DnsProbeOptions,
): Promise<QueryAttempt> {
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
      socket.send(buildQuery(id, name, type), (error) => {
        if (error) finish({ kind: 'error', errno: errnoOf(error), message: error.message });
      });
    });
  });
}

/** The same query over TCP, after a truncated UDP reply. */
function queryTcp(
  resolver: ResolverSpec,
  name: string,
  type: DnsRecordType,
  options: DnsProbeOptions,
): Promise<RawReply | undefined> {
  return new Promise((resolve) => {
    const id = randomInt(0, 65536);
    const socket = net.connect({ host: resolver.host, port: resolver.port });
    let buffer = Buffer.alloc(0);
    const done = (reply: RawReply | undefined) => {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(reply);
    };
    const onAbort = () => done(undefined);
    const timer = setTimeout(() => done(undefined), options.attemptTimeoutMs);
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', () => done(undefined));
    socket.on('connect', () => {
      socket.write(
        dnsPacket.streamEncode({
          type: 'query',
          id,
          flags: dnsPacket.RECURSION_DESIRED,
          questions: [{ type, name, class: 'IN' }],
        }),
      );
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 2) return;
      const length = buffer.readUInt16BE(0);
      if (buffer.length < length + 2) return;
      try {
        const packet = dnsPacket.decode(buffer.subarray(2, length + 2)) as RawReply['packet'];
        done(packet.id === id ? { packet, atMs: performance.now() } : undefined);
      } catch {
        done(undefined);
      }
    });
    socket.on('end', () => done(undefined));
  });
}

function toAnswer(record: dnsPacket.Answer): DnsAnswer {
  const data = 'data' in record ? record.data : undefined;
  return {
    name: record.name,
    type: record.type,
    ttlSeconds: 'ttl' in record && typeof record.ttl === 'number' ? record.ttl : 0,
    data: typeof data === 'string' ? data : JSON.stringify(data ?? null),
  };
}

/** The answer records with string data (addresses, CNAME targets), the only ones we read. */
interface SimpleRecord {
  name: string;
  type: string;
  data: string;
}

function simpleRecords(packet: dnsPacket.DecodedPacket): SimpleRecord[] {
  return (packet.answers ?? []).flatMap((record) =>
    'data' in record && typeof record.data === 'string'
      ? [{ name: record.name, type: record.type, data: record.data }]
      : [],
  );
}

function addressesOf(packet: dnsPacket.DecodedPacket, type: DnsRecordType): string[] {
  return simpleRecords(packet)
    .filter((record) => record.type === type)
    .map((record) => record.data);
}

/** Walks the CNAME chain inside one answer section from the queried name. */
function followCnames(
  packet: dnsPacket.DecodedPacket,
  name: string,
  type: DnsRecordType,
): { addresses: string[]; cnames: string[]; finalName: string } {
  const records = simpleRecords(packet);
  const cnames: string[] = [];
  let current = name.toLowerCase().replace(/\.$/, '');
  for (let hop = 0; hop < maxCnameHops; hop++) {
    const cname = records.find(
      (record) => record.type === 'CNAME' && record.name.toLowerCase().replace(/\.$/, '') === current,
    );
    if (!cname) break;
    current = cname.data.toLowerCase().replace(/\.$/, '');
    cnames.push(current);
  }
  const addresses = records
    .filter((record) => record.type === type && record.name.toLowerCase().replace(/\.$/, '') === current)
    .map((record) => record.data);
  // Some resolvers answer with addresses under a name we did not chase; take them if the chain found none.
  return {
    addresses: addresses.length > 0 ? addresses : addressesOf(packet, type),
    cnames,
    finalName: current,
  };
}
