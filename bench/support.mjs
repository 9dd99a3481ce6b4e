// Small pieces the benchmarks share: a free loopback port, waiting for a server to answer, blackbox_exporter, child
// processes started and stopped by pid, /proc readings, the loopback nginx and the monitor record the monitor
// benches use.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';

/** The listener the held ports connect to (one per bench process), and both ends of every held connection. */
let holder;
const holding = [];

/**
 * A free port on 127.0.0.1, held for this process's life as the tests' freeClosedPort holds it: the local end of a
 * connection of ours, bound and not listening. A port bound and closed again is free for anyone (a helper's server
 * on port 0, an outgoing connection) until the child we give it to binds it; a held one is handed by the kernel
 * to no port-0 bind and no outgoing connection, and a server we start on it still binds (nginx, redis-server,
 * Node and Go listen with SO_REUSEADDR). Nothing listens on it until then: a connect is refused.
 */
export async function freePort() {
  holder ??= new Promise((resolvePort, reject) => {
    const server = createServer((socket) => keep(socket));
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolvePort(server.address().port);
    });
  });
  const socket = connect({ host: '127.0.0.1', port: await holder, localAddress: '127.0.0.1' });
  await once(socket, 'connect');
  keep(socket);
  return socket.localPort;
}

/** Keeps a held connection's end without keeping the process alive or letting a late error throw. */
function keep(socket) {
  socket.on('error', () => undefined);
  socket.unref();
  holding.push(socket);
}

/** Resolves once `url` answers 2xx; throws after `attempts` tries 100 ms apart. */
export async function waitForHttp(url, what, attempts = 100) {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up at ${url}`);
}

/**
 * prometheus-blackbox-exporter on a free loopback port, its `http_2xx` module with these `http:` settings (YAML
 * lines); `start(command, args)` launches it as the caller's own child process, which the caller stops.
 */
export async function startBlackboxExporter({ directory, timeoutSeconds, httpSettings, start }) {
  const port = await freePort();
  const config = join(directory, 'blackbox.yml');
  const settings = httpSettings.map((line) => `      ${line}\n`).join('');
  await writeFile(
    config,
    `modules:\n  http_2xx:\n    prober: http\n    timeout: ${timeoutSeconds}s\n    http:\n${settings}`,
  );
  const started = start('prometheus-blackbox-exporter', [
    `--config.file=${config}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/-/healthy`, 'blackbox_exporter');
  return { url, child: started.child };
}

const owned = new Set(); // child processes started here and still running, stopped by pid (stopOwnedChildren)

/**
 * Starts a child we own. `env` is added to this process's environment; `stdio` replaces the default (stdin
 * ignored, stdout and stderr piped). Keeps the last 8000 characters of its stdout and stderr (`output()`) and the
 * last 4000 of its stderr alone (`stderrTail()`) to report; the caller may read its stdout as well.
 */
export function startChild(command, args, { env = {}, stdio = ['ignore', 'pipe', 'pipe'] } = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio });
  let output = '';
  let stderrTail = '';
  child.stdout?.on('data', (chunk) => {
    output = (output + chunk).slice(-8000);
  });
  child.stderr?.on('data', (chunk) => {
    output = (output + chunk).slice(-8000);
    stderrTail = (stderrTail + chunk).slice(-4000);
  });
  owned.add(child);
  child.once('exit', () => owned.delete(child));
  return { child, output: () => output, stderrTail: () => stderrTail };
}

/** SIGTERM, then SIGKILL when it has not exited after `graceMs`; resolves once it has exited. */
export async function stopChild(child, graceMs = 15_000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Stops every child startChild started that is still running, the last started first. */
export async function stopOwnedChildren(graceMs) {
  for (const child of [...owned].reverse()) await stopChild(child, graceMs).catch(() => undefined);
}

/** Resident memory (MiB) and CPU seconds (user + system) of a process, from /proc; zeros once it is gone. */
export function processStats(pid) {
  try {
    const rssKib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rssMib: rssKib / 1024, cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100 };
  } catch {
    return { rssMib: 0, cpuSeconds: 0 };
  }
}

/** The value at `fraction` of a sorted array (nearest rank); null for none. */
export function quantile(sorted, fraction) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
}

/**
 * nginx on a free loopback port (a child we own), files under `directory`: every path a small 200, and /fail/…
 * a 500 (the failing monitors' sites).
 */
export async function startNginx(directory) {
  const port = await freePort();
  await mkdir(join(directory, 'logs'), { recursive: true });
  const conf = join(directory, 'nginx.conf');
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((name) => `  ${name}_temp_path ${directory};`)
    .join('\n');
  await writeFile(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(directory, 'nginx.pid')};
error_log ${join(directory, 'logs', 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
${temp}
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${port};
    location / { default_type text/html; return 200 '<html><body>ok</body></html>'; }
    location /fail/ { default_type text/plain; return 500 'failing'; }
  }
}
`,
  );
  const nginx = startChild('nginx', ['-c', conf, '-p', directory]);
  await waitForHttp(`http://127.0.0.1:${port}/`, 'nginx');
  return { port, child: nginx.child };
}

/** A monitor's record as POST /monitors writes it, for the monitor benches' `index`-th loopback target. */
export function monitorRecordOf(index, { url, intervalSeconds, createdAt }) {
  return {
    id: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    name: `bench ${index}`,
    url,
    intervalSeconds,
    timeoutMs: 10_000,
    confirmations: 2,
    tags: [],
    maintenance: [],
    webhooks: [],
    createdAt,
    updatedAt: createdAt,
  };
}
