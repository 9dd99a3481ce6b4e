// The lab's HTTP-layer and DNS-layer faults in one process: answers cut short, a server that never answers, a
// non-HTTP service on port 80, and resolvers that refuse, truncate, are raced by a forged reply, or block names by
// policy and say so.
// Usage: node faults.mjs --http ADDR:PORT --banner ADDR:PORT --silent ADDR:PORT --refusing ADDR --truncating ADDR --raced ADDR
//        --blocking ADDR --forged-address ADDR --real-address ADDR --pidfile FILE
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer as createTcpServer } from 'node:net';
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

const dnsPacket = createRequire(import.meta.url)('dns-packet');

const { values } = parseArgs({
  options: {
    http: { type: 'string' },
    banner: { type: 'string' },
    silent: { type: 'string' },
    refusing: { type: 'string' },
    truncating: { type: 'string' },
    raced: { type: 'string' },
    blocking: { type: 'string' },
    'forged-address': { type: 'string' },
    'real-address': { type: 'string' },
    pidfile: { type: 'string' },
  },
});
for (const name of ['http', 'banner', 'silent', 'refusing', 'truncating', 'raced', 'blocking', 'forged-address', 'real-address', 'pidfile']) {
  if (!values[name]) {
    console.error(`faults.mjs: --${name} is required`);
    process.exit(2);
  }
}

function splitAddress(text) {
  const index = text.lastIndexOf(':');
  return { host: text.slice(0, index), port: Number(text.slice(index + 1)) };
}

function listen(server, host, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
}

// A silent connection is held at most this long, so nothing here outlives a probe by much.
const silentHoldMs = 30_000;
const sockets = new Set();

function track(socket) {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => {});
}

const page = `${'<p>the start of a page that never ends</p>\n'.repeat(24)}`;

/** Each behaviour by the request's Host header; any other Host (reach's neutral request) gets a 200. */
const behaviours = {
  // Content-Length promises more than is sent, then FIN: curl exit 18, "transfer closed with N bytes remaining".
  'short.site-a.test': (socket) => {
    socket.end(`HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: ${page.length * 4}\r\n\r\n${page}`);
  },
  // The same, ended by an RST mid-body: curl exit 56, "Recv failure: Connection reset by peer".
  'shortreset.site-a.test': (socket) => {
    socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: ${page.length * 4}\r\n\r\n${page}`, () =>
      setTimeout(() => socket.resetAndDestroy(), 50),
    );
  },
  // A chunk size that is not hex: curl exit 56, "Malformed encoding found in chunked-encoding".
  'badchunk.site-a.test': (socket) => {
    socket.end(
      'HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ntransfer-encoding: chunked\r\n\r\n' +
        `${page.length.toString(16)}\r\n${page}\r\nzz-not-a-size\r\n${page}\r\n0\r\n\r\n`,
    );
  },
  // Reads the request and never answers (a hung application behind an accepting socket).
  'silent.site-a.test': (socket) => {
    setTimeout(() => socket.destroy(), silentHoldMs).unref();
  },
  // Bytes that are not HTTP at all, then FIN.
  'garbage.site-a.test': (socket) => {
    socket.end(Buffer.from('\x00\x15\x03\x01\x00\x02\x02\x0a garbage \xff\xfe not http\r\n\r\n', 'latin1'));
  },
};

const httpServer = createTcpServer((socket) => {
  track(socket);
  let request = '';
  const onData = (chunk) => {
    request += chunk.toString('latin1');
    if (!request.includes('\r\n\r\n')) return;
    socket.off('data', onData);
    const host = /^host:[ \t]*([^\r\n:]+)/im.exec(request)?.[1]?.trim().toLowerCase() ?? '';
    const behaviour = behaviours[host];
    if (behaviour) {
      behaviour(socket);
      return;
    }
    socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\nconnection: close\r\n\r\nhealthy\n');
  };
  socket.on('data', onData);
});

// An SSH server on port 80: its banner first, then, to a request that is not SSH, what OpenSSH says, and FIN.
const bannerServer = createTcpServer((socket) => {
  track(socket);
  socket.write('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n');
  socket.once('data', () => socket.end('Invalid SSH identification string.\r\n'));
});

// A listener that reads every request and never answers any (a hung server: its kernel still accepts).
const silentServer = createTcpServer((socket) => {
  track(socket);
  socket.resume();
  setTimeout(() => socket.destroy(), silentHoldMs).unref();
});

function answerOf(query, flags, answers = [], additionals = []) {
  return dnsPacket.encode({ type: 'response', id: query.id, flags, questions: query.questions, answers, additionals });
}

/**
 * A resolver with a blocklist that says why it blocks, as Pi-hole (EDE 15 Blocked, NXDOMAIN) and family filters
 * (EDE 17 Filtered, 0.0.0.0) do: names starting `dnsblock` and `dnsfilter`; any other name gets the real address.
 * The reason goes in the reply's OPT record, so only to a query that carried EDNS.
 */
function blockingAnswer(query) {
  const question = query.questions?.[0];
  const name = question?.name.toLowerCase() ?? '';
  const hasEdns = (query.additionals ?? []).some((record) => record.type === 'OPT');
  const opt = (code, text) => ({
    type: 'OPT',
    name: '.',
    udpPayloadSize: 1232,
    flags: 0,
    options: [{ code: 15, data: Buffer.concat([Buffer.from([0, code]), Buffer.from(text)]) }],
  });
  const recursive = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE;
  if (name.startsWith('dnsblock')) {
    return answerOf(query, recursive | 3, [], hasEdns ? [opt(15, 'blocklist')] : []);
  }
  if (name.startsWith('dnsfilter')) {
    const answers = question?.type === 'A' ? [{ type: 'A', name: question.name, ttl: 2, data: '0.0.0.0' }] : [];
    return answerOf(query, recursive, answers, hasEdns ? [opt(17, 'family filter')] : []);
  }
  return answerOf(query, recursive, addressAnswers(query, realAddress));
}

const authoritative = dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED;

function addressAnswers(query, address) {
  const question = query.questions?.[0];
  if (!question || question.type !== 'A') return [];
  return [{ type: 'A', name: question.name, ttl: 60, data: address }];
}

/** A UDP DNS server answering each query with what `reply` makes of it (one or more packets, each with a delay). */
function udpDnsServer(host, reply) {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, peer) => {
    let query;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    for (const { packet, delayMs } of reply(query)) {
      setTimeout(() => socket.send(packet, peer.port, peer.address), delayMs).unref();
    }
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(53, host, () => resolve(socket));
  });
}

/** The TCP side of a DNS server: one length-prefixed reply per query. */
function tcpDnsServer(reply) {
  return createTcpServer((socket) => {
    track(socket);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 2 || buffer.length < buffer.readUInt16BE(0) + 2) return;
      const query = dnsPacket.decode(buffer.subarray(2, buffer.readUInt16BE(0) + 2));
      const packet = reply(query);
      const framed = Buffer.alloc(packet.length + 2);
      framed.writeUInt16BE(packet.length, 0);
      packet.copy(framed, 2);
      socket.end(framed);
    });
  });
}

const realAddress = values['real-address'];
const forgedAddress = values['forged-address'];
const refused = (query) => answerOf(query, dnsPacket.RECURSION_DESIRED | 5);
// An answer too large for UDP: the UDP reply comes truncated (TC) and empty, the whole one only over TCP.
const whole = (query) => answerOf(query, authoritative, addressAnswers(query, realAddress));
const truncatedFlag = 1 << 9;

const udpServers = [
  await udpDnsServer(values.refusing, (query) => [{ packet: refused(query), delayMs: 0 }]),
  await udpDnsServer(values.truncating, (query) => [
    { packet: answerOf(query, authoritative | truncatedFlag), delayMs: 0 },
  ]),
  // An on-path injector's race, as the prober sees it: a forged answer at once, the resolver's own 60 ms later.
  await udpDnsServer(values.blocking, (query) => [{ packet: blockingAnswer(query), delayMs: 0 }]),
  await udpDnsServer(values.raced, (query) => [
    { packet: answerOf(query, authoritative, addressAnswers(query, forgedAddress)), delayMs: 0 },
    { packet: whole(query), delayMs: 60 },
  ]),
];
const tcpServers = [tcpDnsServer(refused), tcpDnsServer(whole), tcpDnsServer(whole), tcpDnsServer(blockingAnswer)];
await listen(tcpServers[0], values.refusing, 53);
await listen(tcpServers[1], values.truncating, 53);
await listen(tcpServers[2], values.raced, 53);
await listen(tcpServers[3], values.blocking, 53);
const httpAddress = splitAddress(values.http);
const bannerAddress = splitAddress(values.banner);
await listen(httpServer, httpAddress.host, httpAddress.port);
await listen(bannerServer, bannerAddress.host, bannerAddress.port);
const silentAddress = splitAddress(values.silent);
await listen(silentServer, silentAddress.host, silentAddress.port);
writeFileSync(values.pidfile, `${process.pid}\n`);

function close() {
  for (const server of [httpServer, bannerServer, silentServer, ...tcpServers]) server.close();
  for (const socket of udpServers) socket.close();
  for (const socket of sockets) socket.destroy();
}
process.once('SIGTERM', close);
process.once('SIGINT', close);
