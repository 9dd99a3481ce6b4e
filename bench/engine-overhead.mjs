// Engine overhead: a full reach probe of a healthy loopback site versus a bare undici GET on a fresh
// connection, interleaved in one run. Prints a table and the ratio. Loopback only.
// Usage: npm run bench [-- --iterations 1000]
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Client } from 'undici';
import { probe } from '../dist/engine.js';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '500' } } });
const iterations = Math.min(Math.max(Number(values.iterations) || 500, 10), 20_000);

const body = Buffer.alloc(2048, 'x');
const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

async function bareUndici() {
  const client = new Client(origin, { pipelining: 1 });
  try {
    const response = await client.request({
      method: 'GET',
      path: '/',
      headers: { 'user-agent': 'bench', accept: '*/*' },
    });
    for await (const _chunk of response.body);
    if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`);
  } finally {
    await client.close();
  }
}

async function engine() {
  const report = await probe({
    url: `${origin}/`,
    timeoutMs: 5000,
    resolvers: [{ host: '127.0.0.1', port: 53 }],
  });
  if (report.verdict.code !== 'http.ok') throw new Error(`verdict ${report.verdict.code}`);
}

async function time(fn) {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

const samples = { undici: [], engine: [] };
for (let i = 0; i < Math.min(50, iterations); i++) {
  await bareUndici();
  await engine();
}
for (let i = 0; i < iterations; i++) {
  // Interleaved, alternating which goes first, so drift in the machine's load hits both alike.
  if (i % 2 === 0) {
    samples.undici.push(await time(bareUndici));
    samples.engine.push(await time(engine));
  } else {
    samples.engine.push(await time(engine));
    samples.undici.push(await time(bareUndici));
  }
}
server.close();

const stats = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  return { mean, p50: at(0.5), p99: at(0.99) };
};
const u = stats(samples.undici);
const e = stats(samples.engine);
const row = (name, s) => `| ${name} | ${s.mean.toFixed(3)} | ${s.p50.toFixed(3)} | ${s.p99.toFixed(3)} |`;
console.log(`node ${process.version}, ${iterations} iterations each, interleaved`);
console.log('| client | mean ms | p50 ms | p99 ms |');
console.log('|---|---|---|---|');
console.log(row('bare undici GET, fresh connection', u));
console.log(row('reach probe (TCP + HTTP + verdict)', e));
console.log(`ratio engine/undici: mean ${(e.mean / u.mean).toFixed(2)}x, p50 ${(e.p50 / u.p50).toFixed(2)}x`);
