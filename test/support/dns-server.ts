// A real DNS server on loopback (UDP and TCP, built with dns-packet) whose answers the test scripts per name.
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export interface ZoneEntry {
  a?: string[];
  aaaa?: string[];
  cname?: string;
  rcode?: 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';
  /** Send this forged reply first, then the real one `delayMs` later (an on-path injector). */
  injectFirst?: { a: string[]; delayMs: number };
  /** Never answer (a dropped query). */
  isDropped?: boolean;
  /** Answer over UDP with the TC bit and no records, so the client must retry over TCP. */
  isTruncatedOverUdp?: boolean;
  /** Attach this Extended DNS Error (RFC 8914) to the reply of a query that carried EDNS. */
  extendedError?: { code: number; text?: string };
  /** A server too old for EDNS: a query carrying an OPT record gets FORMERR without one. */
  isEdnsRefused?: boolean;
}

export interface DnsTestServer {
  port: number;
  resolver: string;
  zone: Map<string, ZoneEntry>;
  queries: { name: string; type: string; transport: 'udp' | 'tcp'; hasEdns: boolean }[];
  close(): Promise<void>;
}

type Question = dnsPacket.Question;

/** The OPT record of a reply to an EDNS query, with the entry's Extended DNS Error when it has one. */
function optRecord(entry: ZoneEntry | undefined): dnsPacket.Answer {
  const error = entry?.extendedError;
  const options = error
    ? [
        {
          code: 15,
          data: Buffer.concat([
            Buffer.from([error.code >> 8, error.code & 0xff]),
            Buffer.from(error.text ?? ''),
          ]),
        },
      ]
    : [];
  return {
    type: 'OPT',
    name: '.',
    udpPayloadSize: 1232,
    extendedRcode: 0,
    ednsVersion: 0,
    flags: 0,
    flag_do: false,
    // dns-packet writes an option's raw data for any code; its types list only the codes it decodes.
    options: options as unknown as dnsPacket.PacketOpt[],
  };
}

function hasEdns(query: dnsPacket.DecodedPacket): boolean {
  return (query.additionals ?? []).some((record) => record.type === 'OPT');
}

function answerFor(
  zone: Map<string, ZoneEntry>,
  query: dnsPacket.DecodedPacket,
  question: Question,
  flags: number,
): Buffer {
  const name = question.name.toLowerCase();
  const id = query.id ?? 0;
  // '*' answers every name the zone does not list (a resolver that rewrites NXDOMAIN).
  const entry = zone.get(name) ?? zone.get('*');
  const isEdns = hasEdns(query);
  if (entry?.isEdnsRefused && isEdns) {
    return encode({
      type: 'response',
      id,
      flags: flags | 1,
      questions: [{ ...question, class: 'IN' }],
      answers: [],
    });
  }
  const base = {
    type: 'response' as const,
    id,
    questions: [{ ...question, class: 'IN' as const }],
    ...(isEdns ? { additionals: [optRecord(entry)] } : {}),
  };
  if (!entry) return encode({ ...base, flags: flags | rcodeFlag('NXDOMAIN'), answers: [] });
  if (entry.rcode) return encode({ ...base, flags: flags | rcodeFlag(entry.rcode), answers: [] });
  const answers: dnsPacket.Answer[] = [];
  let target = name;
  let current = entry;
  for (let hops = 0; current.cname && hops < 8; hops++) {
    answers.push({ type: 'CNAME', name: target, ttl: 60, class: 'IN', data: current.cname });
    target = current.cname;
    const next = zone.get(target);
    if (!next) break;
    current = next;
  }
  const addresses = question.type === 'A' ? current.a : question.type === 'AAAA' ? current.aaaa : undefined;
  for (const address of addresses ?? []) {
    answers.push({ type: question.type as 'A' | 'AAAA', name: target, ttl: 300, class: 'IN', data: address });
  }
  return encode({ ...base, flags, answers });
}

function encode(packet: dnsPacket.Packet): Buffer {
  return dnsPacket.encode(packet);
}

function rcodeFlag(rcode: string): number {
  return { NXDOMAIN: 3, SERVFAIL: 2, REFUSED: 5 }[rcode] ?? 0;
}

const responseFlags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE;

export async function startDnsServer(zoneEntries: Record<string, ZoneEntry>): Promise<DnsTestServer> {
  const zone = new Map(Object.entries(zoneEntries).map(([name, entry]) => [name.toLowerCase(), entry]));
  const queries: DnsTestServer['queries'] = [];
  const timers = new Set<NodeJS.Timeout>();
  const createUdp = () => {
    const socket = dgram.createSocket('udp4');
    socket.on('message', (message, remote) => onMessage(socket, message, remote));
    return socket;
  };
  const onMessage = (udp: dgram.Socket, message: Buffer, remote: dgram.RemoteInfo) => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question || query.id === undefined) return;
    queries.push({ name: question.name, type: question.type, transport: 'udp', hasEdns: hasEdns(query) });
    const entry = zone.get(question.name.toLowerCase());
    if (entry?.isDropped) return;
    const send = (buffer: Buffer) => udp.send(buffer, remote.port, remote.address);
    if (entry?.isTruncatedOverUdp) {
      send(
        encode({
          type: 'response',
          id: query.id,
          flags: responseFlags | dnsPacket.TRUNCATED_RESPONSE,
          questions: [question],
          answers: [],
        }),
      );
      return;
    }
    const real = answerFor(zone, query, question, responseFlags);
    if (entry?.injectFirst && question.type === 'A') {
      const forged = encode({
        type: 'response',
        id: query.id,
        flags: responseFlags,
        questions: [question],
        answers: entry.injectFirst.a.map((data) => ({
          type: 'A',
          name: question.name,
          ttl: 60,
          class: 'IN',
          data,
        })),
      });
      send(forged);
      const timer = setTimeout(() => {
        timers.delete(timer);
        send(real);
      }, entry.injectFirst.delayMs);
      timers.add(timer);
      return;
    }
    send(real);
  };
  let udp = createUdp();
  const tcp = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 2 || buffer.length < buffer.readUInt16BE(0) + 2) return;
      const query = dnsPacket.decode(buffer.subarray(2, buffer.readUInt16BE(0) + 2));
      const question = query.questions?.[0];
      if (!question || query.id === undefined) return socket.destroy();
      queries.push({ name: question.name, type: question.type, transport: 'tcp', hasEdns: hasEdns(query) });
      const reply = answerFor(zone, query, question, responseFlags);
      const length = Buffer.alloc(2);
      length.writeUInt16BE(reply.length);
      socket.end(Buffer.concat([length, reply]));
    });
  });
  // UDP and TCP on the same port: bind UDP on a free port, then try TCP there; another process may hold
  // that TCP port, so try a few times.
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    port = udp.address().port;
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, '127.0.0.1', () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      break;
    } catch (error) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (attempt >= 9) throw error;
      udp = createUdp();
    }
  }

  return {
    port,
    resolver: `127.0.0.1:${port}`,
    zone,
    queries,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
