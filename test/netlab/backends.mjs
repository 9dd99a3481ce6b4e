// The lab's misbehaving backends in one process: a server that resets every request, one that resets only the
// requests naming one Host (and answers any other), and a slow HTTP upstream.
// Usage: node backends.mjs --reset ADDR:PORT --slow ADDR:PORT --delay-ms MS --pidfile FILE
//        [--name-reset ADDR:PORT --reset-host NAME]
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    reset: { type: 'string' },
    slow: { type: 'string' },
    'name-reset': { type: 'string' },
    'reset-host': { type: 'string' },
    'delay-ms': { type: 'string', default: '2500' },
    pidfile: { type: 'string' },
  },
});

function splitAddress(text) {
  const index = text.lastIndexOf(':');
  return { host: text.slice(0, index), port: Number(text.slice(index + 1)) };
}

function listen(server, text) {
  const { host, port } = splitAddress(text);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
}

if (!values.reset || !values.slow || !values.pidfile) {
  console.error('usage: node backends.mjs --reset ADDR:PORT --slow ADDR:PORT --delay-ms MS --pidfile FILE');
  process.exit(2);
}
const delayMs = Number(values['delay-ms']);

// Reads the request, then answers with a TCP RST: the peer's request went out, and the reply is a reset.
const resetServer = createTcpServer((socket) => {
  socket.once('data', () => socket.resetAndDestroy());
  socket.on('error', () => {});
});

// Resets a request whose Host header names resetHost, after reading it, the way an on-path keyword filter does;
// answers 200 to any other Host (such as reach's neutral request). Seen from one network this looks like a
// filter; seen from every network it is the server.
const resetHost = values['reset-host']?.toLowerCase();
const nameResetServer = createTcpServer((socket) => {
  socket.once('data', (chunk) => {
    const host = /^host:[ \t]*([^\r\n:]+)/im.exec(chunk.toString('latin1'))?.[1]?.trim().toLowerCase();
    if (host === resetHost) {
      socket.resetAndDestroy();
      return;
    }
    socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\nconnection: close\r\n\r\nhealthy\n');
  });
  socket.on('error', () => {});
});

// Accepts at once, sends the first byte only after delayMs.
const slowServer = createHttpServer((_request, response) => {
  const timer = setTimeout(() => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end('slow but fine\n');
  }, delayMs);
  response.on('close', () => clearTimeout(timer));
});

await listen(resetServer, values.reset);
await listen(slowServer, values.slow);
if (values['name-reset'] && resetHost) await listen(nameResetServer, values['name-reset']);
writeFileSync(values.pidfile, `${process.pid}\n`);

function close() {
  resetServer.close();
  nameResetServer.close();
  slowServer.close();
  slowServer.closeAllConnections();
}
process.once('SIGTERM', close);
process.once('SIGINT', close);
