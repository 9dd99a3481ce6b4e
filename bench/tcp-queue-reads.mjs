// What a batch of probes timing out together costs in reads of the kernel's connection table (/proc/net/tcp):
// `--connections` loopback connections held open against a server that never answers, then the unacknowledged
// bytes of every one asked for at once, through this build's tcp-queue.js and another's (`--baseline DIR`).
// Usage: npm run build && node bench/tcp-queue-reads.mjs --baseline DIR [--connections 2000 --rounds 5]
// Loopback only; the server and every connection are closed at the end.
import { once } from 'node:events';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { boundedOption, format, root } from './batch-support.mjs';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
    baseline: { type: 'string' },
  },
});
if (!values.baseline) {
  console.error(
    'tcp-queue-reads: --baseline DIR is required (a build to compare with: DIR/dist/probes/tcp-queue.js)',
  );
  process.exit(2);
}
const count = boundedOption(values.connections, 2000, 10, 20_000);
const rounds = boundedOption(values.rounds, 5, 1, 50);
const builds = {
  'this build': await import(join(root, 'dist/probes/tcp-queue.js')),
  baseline: await import(join(resolve(values.baseline), 'dist/probes/tcp-queue.js')),
};

const server = net.createServer((socket) => socket.on('data', () => {}));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = server.address().port;
const clients = [];
for (let index = 0; index < count; index++) {
  const client = net.connect({ host: '127.0.0.1', port });
  await once(client, 'connect');
  client.write('GET / HTTP/1.1\r\nhost: hung.test\r\n\r\n');
  clients.push(client);
}
const ends = clients.map((client) => ({
  localPort: client.localPort,
  remoteAddress: '127.0.0.1',
  remotePort: port,
}));
const median = (numbers) => [...numbers].sort((a, b) => a - b)[Math.floor(numbers.length / 2)];
console.log(
  `${count} connections held open; every one's unacknowledged bytes asked for at once, ${rounds} rounds`,
);
console.log('| build | wall ms, median | CPU ms, median | found |');
console.log('|---|---:|---:|---:|');
const medians = {};
for (const [name, module] of Object.entries(builds)) {
  const walls = [];
  const cpus = [];
  let found = 0;
  for (let round = 0; round < rounds; round++) {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const answers = await Promise.all(ends.map((each) => module.unacknowledgedBytesOf(each)));
    walls.push(performance.now() - started);
    const cpu = process.cpuUsage(cpuBefore);
    cpus.push((cpu.user + cpu.system) / 1000);
    found = answers.filter((answer) => answer !== undefined).length;
  }
  medians[name] = median(walls);
  console.log(
    `| ${name} | ${format(median(walls), 0)} | ${format(median(cpus), 0)} | ${found} of ${count} |`,
  );
}
console.log(`this build / the baseline: ${format(medians.baseline / medians['this build'], 1)}x as fast`);
for (const client of clients) client.destroy();
server.close();
