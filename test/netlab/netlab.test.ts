// Runs reach's CLI inside the network lab (test/netlab/lab.sh) and checks the verdict of each scenario.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpExchange, Report } from '../../src/types.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const labScript = path.join(import.meta.dirname, 'lab.sh');
const cliPath = path.join(repoRoot, 'dist/cli.js');
// A prefix of our own, so this run's lab cannot collide with another run's or with a lab brought up by hand.
const labPrefix = `reach-t${process.pid}-`;
const labCa = `/run/${labPrefix}netlab/tls/ca.pem`;

const proberNamespace = `${labPrefix}prober`;
const noRouteNamespace = `${labPrefix}noroute`;
const honestResolver = '198.51.100.53';
const lyingResolver = '198.51.100.54';
const deadResolver = '198.51.100.55';
const namedControl = 'http://control.site-b.test/';
const addressControl = 'http://203.0.113.5/';

const requiredTools = ['ip', 'iptables', 'nginx', 'named', 'dnsmasq', 'openssl'];

function findMissingTools(): string[] {
  // sbin directories hold most of these tools and are not on every PATH.
  const searchPath = `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`;
  return requiredTools.filter(
    (tool) => !searchPath.split(':').some((dir) => dir !== '' && existsSync(path.join(dir, tool))),
  );
}

function findSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'the network lab needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'the network lab needs root (run: sudo npm run test:netlab)';
  const missing = findMissingTools();
  if (missing.length > 0) return `the network lab needs these tools, missing here: ${missing.join(', ')}`;
  return undefined;
}

const skipReason = findSkipReason();
if (skipReason) console.warn(`netlab suite skipped: ${skipReason}`);

function runLab(command: 'up' | 'down', prefix = labPrefix): void {
  execFileSync('bash', [labScript, command], {
    env: { ...process.env, REACH_NETLAB_PREFIX: prefix, REACH_NETLAB_STATE: `/run/${prefix}netlab` },
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 60_000,
  });
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes labs left by earlier runs of this suite that were killed before their afterAll ran. */
function removeAbandonedLabs(): void {
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const match of namespaces.matchAll(/^reach-t(\d+)-prober\b/gm)) {
    const ownerPid = Number(match[1]);
    if (ownerPid !== process.pid && !isProcessAlive(ownerPid)) runLab('down', `reach-t${ownerPid}-`);
  }
}

interface ProbeRun {
  exitCode: number | null;
  report: Report;
  stderr: string;
}

interface ProbeArgs {
  url: string;
  resolvers?: string[];
  control?: string;
  timeoutMs?: number;
  withLabCa?: boolean;
  namespace?: string;
}

/** Runs `reach probe --json` as a process inside a lab namespace and parses the report it prints. */
function runProbe(args: ProbeArgs): Promise<ProbeRun> {
  const cliArgs = ['probe', args.url, '--json', '--control', args.control ?? namedControl];
  for (const resolver of args.resolvers ?? [honestResolver]) cliArgs.push('--resolver', resolver);
  cliArgs.push('--timeout', String(args.timeoutMs ?? 4000));
  if (args.withLabCa) cliArgs.push('--ca', labCa);
  const namespace = args.namespace ?? proberNamespace;
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', namespace, process.execPath, cliPath, ...cliArgs], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (exitCode) => {
      try {
        resolve({ exitCode, report: JSON.parse(stdout) as Report, stderr });
      } catch {
        reject(
          new Error(
            `reach ${cliArgs.join(' ')} printed no JSON report (exit ${exitCode}).\nstdout: ${stdout}\nstderr: ${stderr}`,
          ),
        );
      }
    });
  });
}

/** The verdict, with the report attached so a failing assertion shows what reach saw. */
function verdictOf(run: ProbeRun) {
  return { cause: run.report.verdict.cause, code: run.report.verdict.code, report: run.report };
}

function expectVerdict(run: ProbeRun, cause: string, code: string, exitCode: number) {
  expect(verdictOf(run)).toMatchObject({ cause, code });
  expect(run.exitCode).toBe(exitCode);
}

function firstExchange(report: Report): HttpExchange | undefined {
  return report.target.http?.hops[0]?.exchange;
}

function dnsOutcomes(report: Report): string[] {
  return (report.target.dns?.resolvers ?? []).flatMap((resolver) =>
    resolver.queries.filter((query) => query.type === 'A').map((query) => query.outcome),
  );
}

function controlsReached(report: Report): boolean[] {
  return report.controls.map((control) => control.isReachable);
}

describe.skipIf(skipReason !== undefined)('reach inside the network lab', () => {
  beforeAll(() => {
    if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run build first`);
    removeAbandonedLabs();
    try {
      runLab('up');
    } catch (error) {
      // A half-built lab must not outlive the run.
      runLab('down');
      throw error;
    }
  }, 90_000);

  afterAll(() => {
    runLab('down');
  }, 90_000);

  describe('DNS', () => {
    it('reports a name that does not exist as dns_failure/dns.nxdomain', async () => {
      const run = await runProbe({ url: 'http://nosuchname.site-a.test/' });
      expectVerdict(run, 'dns_failure', 'dns.nxdomain', 1);
      expect(dnsOutcomes(run.report)).toContain('nxdomain');
      expect(controlsReached(run.report)).toEqual([true]);
    });

    it('reports a zone that failed to load on the authoritative server as dns_failure/dns.servfail', async () => {
      const run = await runProbe({ url: 'http://www.broken.test/' });
      expectVerdict(run, 'dns_failure', 'dns.servfail', 1);
      expect(dnsOutcomes(run.report)).toContain('servfail');
    });

    it('reports a name with no address record as dns_failure/dns.nodata', async () => {
      const run = await runProbe({ url: 'http://noaddress.site-a.test/' });
      expectVerdict(run, 'dns_failure', 'dns.nodata', 1);
      expect(dnsOutcomes(run.report)).toContain('nodata');
    });

    it('reports a resolver whose queries are dropped as dns_failure/dns.timeout while an address control works', async () => {
      const run = await runProbe({
        url: 'http://www.site-a.test/',
        resolvers: [deadResolver],
        control: addressControl,
        timeoutMs: 3000,
      });
      expectVerdict(run, 'dns_failure', 'dns.timeout', 1);
      expect(dnsOutcomes(run.report)).toContain('timeout');
      expect(controlsReached(run.report)).toEqual([true]);
    });

    it('reports a lying resolver that answers a bogon next to an honest one as filtered_path/dns.tampered', async () => {
      const run = await runProbe({
        url: 'http://tampered.site-a.test/',
        resolvers: [honestResolver, lyingResolver],
      });
      expectVerdict(run, 'filtered_path', 'dns.tampered', 1);
      const liar = run.report.target.dns?.resolvers.find((resolver) =>
        resolver.resolver.startsWith(lyingResolver),
      );
      expect(liar?.queries.flatMap((query) => query.bogons)).toContain('10.10.10.10');
    });
  });

  describe('TCP and routing', () => {
    it('reports a port nobody listens on as server_fault/tcp.refused', async () => {
      const run = await runProbe({ url: 'http://closed.site-a.test/' });
      expectVerdict(run, 'server_fault', 'tcp.refused', 1);
      expect(run.report.target.tcp[0]).toMatchObject({ kind: 'refused', address: '203.0.113.11' });
    });

    it('reports a router dropping every packet to the address as filtered_path/filter.blackhole', async () => {
      const run = await runProbe({ url: 'http://blackhole.site-a.test/', timeoutMs: 3000 });
      expectVerdict(run, 'filtered_path', 'filter.blackhole', 1);
      expect(run.report.target.tcp[0]).toMatchObject({ kind: 'timeout', address: '203.0.113.66' });
      expect(controlsReached(run.report)).toEqual([true]);
    });

    it('reports a router answering ICMP host-unreachable as server_fault/tcp.unreachable', async () => {
      const run = await runProbe({ url: 'http://unreachable.site-a.test/' });
      expectVerdict(run, 'server_fault', 'tcp.unreachable', 1);
      expect(run.report.target.tcp[0]).toMatchObject({ kind: 'host_unreachable', address: '203.0.113.67' });
    });

    it('reports a prober without any route as local_network/local.no_route', async () => {
      const run = await runProbe({ url: 'http://www.site-a.test/', namespace: noRouteNamespace });
      expectVerdict(run, 'local_network', 'local.no_route', 1);
      expect(controlsReached(run.report)).toEqual([false]);
    });
  });

  describe('HTTP', () => {
    it('reports a healthy site as ok/http.ok', async () => {
      const run = await runProbe({ url: 'http://www.site-a.test/' });
      expectVerdict(run, 'ok', 'http.ok', 0);
      expect(firstExchange(run.report)).toMatchObject({ outcome: 'response', status: 200 });
      expect(controlsReached(run.report)).toEqual([true]);
    });

    it('reports a 500 from nginx as server_fault/http.server_error', async () => {
      const run = await runProbe({ url: 'http://error500.site-a.test/' });
      expectVerdict(run, 'server_fault', 'http.server_error', 1);
      expect(firstExchange(run.report)).toMatchObject({
        status: 500,
        headers: { server: expect.stringMatching(/^nginx/) },
      });
    });

    it('reports a 502 from nginx in front of a dead upstream as server_fault/http.server_error', async () => {
      const run = await runProbe({ url: 'http://badgateway.site-a.test/' });
      expectVerdict(run, 'server_fault', 'http.server_error', 1);
      expect(firstExchange(run.report)).toMatchObject({ status: 502 });
    });

    it('reports nginx closing without a reply (return 444) as server_fault/http.empty_reply', async () => {
      const run = await runProbe({ url: 'http://noreply.site-a.test/' });
      expectVerdict(run, 'server_fault', 'http.empty_reply', 1);
      expect(firstExchange(run.report)).toMatchObject({ outcome: 'empty_reply', isRequestSent: true });
    });

    it('reports a server that resets every request as server_fault/http.reset', async () => {
      const run = await runProbe({ url: 'http://reset.site-a.test/' });
      expectVerdict(run, 'server_fault', 'http.reset', 1);
      expect(firstExchange(run.report)).toMatchObject({ outcome: 'reset', isRequestSent: true });
    });

    it('reports a 503 with Retry-After as overload/http.unavailable', async () => {
      const run = await runProbe({ url: 'http://busy.site-a.test/' });
      expectVerdict(run, 'overload', 'http.unavailable', 1);
      expect(firstExchange(run.report)).toMatchObject({ status: 503, headers: { retryAfter: '120' } });
    });

    it('reports a 429 as overload/http.rate_limited', async () => {
      const run = await runProbe({ url: 'http://limited.site-a.test/' });
      expectVerdict(run, 'overload', 'http.rate_limited', 1);
      expect(firstExchange(run.report)).toMatchObject({ status: 429 });
    });

    it('reports a backend whose first byte comes seconds after connect as overload/http.slow_first_byte', async () => {
      const run = await runProbe({ url: 'http://slow.site-a.test/', timeoutMs: 6000 });
      expectVerdict(run, 'overload', 'http.slow_first_byte', 1);
      const exchange = firstExchange(run.report);
      expect(exchange).toMatchObject({ outcome: 'response', status: 200 });
      // The backend holds its answer for 2500 ms by construction (lab.sh), so this bound always holds.
      expect(exchange?.timings.firstByteMs).toBeGreaterThanOrEqual(2500);
    });

    it('reports a 301 to another registrable domain as domain_migration/http.redirect_offsite', async () => {
      const run = await runProbe({ url: 'http://moved301.site-a.test/' });
      expectVerdict(run, 'domain_migration', 'http.redirect_offsite', 1);
      expect(firstExchange(run.report)).toMatchObject({
        status: 301,
        headers: { location: 'http://www.site-b.test/from-site-a' },
      });
    });

    it('reports a 308 to another registrable domain as domain_migration/http.redirect_offsite', async () => {
      const run = await runProbe({ url: 'http://moved308.site-a.test/' });
      expectVerdict(run, 'domain_migration', 'http.redirect_offsite', 1);
      expect(firstExchange(run.report)).toMatchObject({
        status: 308,
        headers: { location: 'http://www.site-b.test/from-site-a' },
      });
    });

    it('reports a 410 as domain_migration/http.gone', async () => {
      const run = await runProbe({ url: 'http://gone.site-a.test/' });
      expectVerdict(run, 'domain_migration', 'http.gone', 1);
      expect(firstExchange(run.report)).toMatchObject({ status: 410 });
    });

    it('reports an RST injected on a Host header match as filtered_path/filter.keyword_reset while a neutral name on the same address passes', async () => {
      const run = await runProbe({ url: 'http://blocked.site-a.test/' });
      expectVerdict(run, 'filtered_path', 'filter.keyword_reset', 1);
      expect(firstExchange(run.report)).toMatchObject({
        outcome: 'reset',
        isRequestSent: true,
        address: '203.0.113.10',
      });
      expect(run.report.target.differential).toMatchObject({
        layer: 'http',
        neutral: { outcome: 'response' },
      });
    });
  });

  describe('TLS', () => {
    it('reports an https site with a certificate from the CA passed with --ca as ok/http.ok', async () => {
      const run = await runProbe({ url: 'https://tls.site-a.test/', withLabCa: true });
      expectVerdict(run, 'ok', 'http.ok', 0);
      expect(run.report.target.tls).toMatchObject({ outcome: 'established', isTrusted: true });
    });

    it('reports an expired certificate as server_fault/tls.cert_expired', async () => {
      const run = await runProbe({ url: 'https://expired.site-a.test/', withLabCa: true });
      expectVerdict(run, 'server_fault', 'tls.cert_expired', 1);
      expect(run.report.target.tls).toMatchObject({ verifyError: 'CERT_HAS_EXPIRED' });
    });

    it('reports a certificate for another name as server_fault/tls.cert_name_mismatch', async () => {
      const run = await runProbe({ url: 'https://wrongname.site-a.test/', withLabCa: true });
      expectVerdict(run, 'server_fault', 'tls.cert_name_mismatch', 1);
      expect(run.report.target.tls).toMatchObject({ verifyError: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    });

    it('reports an RST injected on a ClientHello carrying the SNI as filtered_path/filter.sni_reset while a neutral SNI passes', async () => {
      const run = await runProbe({ url: 'https://sni-blocked.site-a.test/', withLabCa: true });
      expectVerdict(run, 'filtered_path', 'filter.sni_reset', 1);
      expect(run.report.target.tls).toMatchObject({
        outcome: 'reset',
        servername: 'sni-blocked.site-a.test',
      });
      expect(run.report.target.differential).toMatchObject({
        layer: 'tls',
        neutral: { outcome: 'established' },
      });
    });
  });
});
