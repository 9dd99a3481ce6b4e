// Loopback targets for the batch benchmarks, run as a child process so their CPU is counted apart from the
// prober's: one Node HTTP server on several 127.0.0.x addresses and ports, answering a mix of pages.
// Usage (from batch-support.mjs): node bench/batch-targets.mjs 127.0.0.1:0 127.0.0.2:0 ...
// Prints one JSON line `{ "listening": ["127.0.0.1:PORT", ...] }` once every listener is up; stops on SIGTERM.
import http from 'node:http';

const small = Buffer.from('<!doctype html><html><body>healthy</body></html>\n');
const page = Buffer.alloc(2048, 'p');
const large = Buffer.alloc(32 * 1024, 'l');

/** `/` small page, `/page/N` 2 KiB, `/large/N` 32 KiB, `/moved/N` 301 to `/page/N`, `/missing/N` 404. */
function answer(request, response) {
  const [, kind, id = '0'] = (request.url ?? '/').split('/');
  const send = (status, body, headers = {}) =>
    response
      .writeHead(status, { 'content-type': 'text/html', 'content-length': body.length, ...headers })
      .end(body);
  if (kind === 'page') send(200, page);
  else if (kind === 'large') send(200, large);
  else if (kind === 'moved') send(301, small, { location: `/page/${id}` });
  else if (kind === 'missing') send(404, small);
  else send(200, small);
}

const servers = [];
const listening = [];
for (const spec of process.argv.slice(2)) {
  const [host, port] = spec.split(':');
  const server = http.createServer(answer);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: Number(port), backlog: 4096 }, resolve);
  });
  servers.push(server);
  listening.push(`${host}:${server.address().port}`);
}
process.stdout.write(`${JSON.stringify({ listening })}\n`);
process.on('SIGTERM', () => {
  for (const server of servers) server.close();
  for (const server of servers) server.closeAllConnections();
});
