// Small pieces the benchmarks share: a free loopback port, waiting for a server to answer, blackbox_exporter.
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A port free on 127.0.0.1 at the moment of asking. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
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
