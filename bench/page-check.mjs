// The page check's cost: what checking a plain-http 2xx page for forgery (a raw replay listening on, a neutral
// Host) adds to a probe of a name, next to a bare undici GET of the same page, interleaved in one run.
// Two servers: Node's, which closes after its answer when asked (the replay ends two round trips after the
// FIN, at least 50 ms), and one that ignores `connection: close` (the replay listens its whole window, at
// least 300 ms).
// Usage: npm run build && node bench/page-check.mjs [--iterations 100]. Loopback only.
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Client } from 'undici';
import { checkPage } from '../dist/probes/page-check.js';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '100' } } });
const iterations = Math.min(Math.max(Number(values.iterations) || 100, 10), 5000);

const body = Buffer.alloc(2048, 'x');
function startServer() {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
/** A server that ignores the replay's `connection: close` and keeps every connection open. */
function startOpenServer() {
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', () =>
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      ),
    );
  });
  server.closeAllConnections = () => {
    for (const socket of sockets) socket.destroy();
  };
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
const closing = await startServer();
const keepAlive = await startOpenServer();

async function bareUndici(server) {
  const client = new Client(`http://127.0.0.1:${server.address().port}`, { pipelining: 1 });
  try {
    const response = await client.request({
      method: 'GET',
      path: '/',
      headers: { host: 'www.example.test' },
    });
    for await (const _chunk of response.body);
  } finally {
    await client.close();
  }
}

async function pageCheck(server) {
  const port = server.address().port;
  const probeStartedMs = performance.now();
  const final = {
    url: `http://www.example.test:${port}/`,
    address: '127.0.0.1',
    port,
    hostHeader: 'www.example.test',
    path: '/',
    servername: null,
    outcome: 'response',
    status: 200,
    headers: {},
    timings: { connectMs: 0.3, totalMs: 1 },
    bytesSent: 100,
    bytesReceived: 2200,
    isRequestSent: true,
    hasPeerFin: false,
    bodyBytes: body.length,
    isBodyTruncated: false,
    startedAtMs: 0,
  };
  const result = await checkPage(final, null, {
    url: new URL(final.url),
    resolvers: [],
    maxRedirects: 5,
    maxBodyBytes: 256 * 1024,
    dnsInjectionWindowMs: 500,
    deadlineMs: probeStartedMs + 5000,
    probeStartedMs,
    signal: new AbortController().signal,
  });
  if (result?.replay.outcome !== 'response') throw new Error(`replay ${result?.replay.outcome}`);
}

async function time(fn) {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const stats = (samples) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { mean: samples.reduce((sum, v) => sum + v, 0) / samples.length, p50: at(0.5), p99: at(0.99) };
};
const row = (name, s) => `| ${name} | ${s.mean.toFixed(2)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} |`;

console.log(`node ${process.version}, interleaved`);
console.log('| what | mean ms | p50 ms | p99 ms |');
console.log('|---|---|---|---|');
for (const [label, server, count] of [
  ['server closes after its answer', closing, iterations],
  ['server ignores connection: close', keepAlive, Math.max(10, Math.round(iterations / 5))],
]) {
  const samples = { undici: [], check: [] };
  for (let i = 0; i < count; i++) {
    // Alternating which goes first, so drift in the machine's load hits both alike.
    if (i % 2 === 0) {
      samples.undici.push(await time(() => bareUndici(server)));
      samples.check.push(await time(() => pageCheck(server)));
    } else {
      samples.check.push(await time(() => pageCheck(server)));
      samples.undici.push(await time(() => bareUndici(server)));
    }
  }
  const u = stats(samples.undici);
  const c = stats(samples.check);
  console.log(row(`bare undici GET (${label}, ${count} runs)`, u));
  console.log(row(`page check (${label}, ${count} runs)`, c));
  console.log(
    `| ratio page check/undici (${label}) | ${(c.mean / u.mean).toFixed(1)}x | ${(c.p50 / u.p50).toFixed(1)}x | |`,
  );
}
closing.close();
keepAlive.closeAllConnections();
keepAlive.close();
