// Vantage points in the network lab: reach serve behind the filtering router (vantage "local"), a worker on a
// clean path to the same servers, and one whose own network is broken, all on one redis-server the lab shares
// with them over a lab-only bridge. Called from netlab.test.ts, inside the lab it brings up.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MultiVantageReport, Report, VantageResult } from '../../src/types.js';
import { LabProcess, runInNamespace } from './lab-process.js';

const honestResolver = '198.51.100.53';
const lyingResolver = '198.51.100.54';
const control = 'http://control.site-b.test/';
/** lab.sh: the shared redis-server, on the bridge only the vantage namespaces are joined to. */
const redisAddress = '192.0.2.241:6379';
/** Not 8080: the single-vantage service of netlab.test.ts may still be closing there. */
const apiUrl = 'http://127.0.0.1:8090';

// Sends one request from inside the prober namespace (the API listens on that namespace's loopback).
const requestScript = `
const [method, url, body] = process.argv.slice(1);
const init = body ? { method, headers: { 'content-type': 'application/json' }, body } : { method };
const response = await fetch(url, init);
process.stdout.write(JSON.stringify({ status: response.status, body: await response.text() }));
`;

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: an API answer, checked by the assertions that read it
  body: any;
  raw: string;
}

interface VantageRequest {
  url: string;
  vantages: 'all' | string[];
  resolvers?: string[];
  timeoutMs: number;
}

function vantagesByName(report: MultiVantageReport): Record<string, VantageResult> {
  return Object.fromEntries(report.vantages.map((vantage) => [vantage.name, vantage]));
}

function statusesOf(report: MultiVantageReport): Record<string, string> {
  return Object.fromEntries(report.vantages.map((vantage) => [vantage.name, vantage.status]));
}

function codeOf(vantage: VantageResult | undefined): string | undefined {
  return vantage?.report?.verdict.code;
}

function reportOf(vantage: VantageResult | undefined): Report {
  if (!vantage?.report) throw new Error(`vantage ${vantage?.name} has no report (${vantage?.status})`);
  return vantage.report;
}

export function describeVantages(lab: { labPrefix: string; labState: string }): void {
  const proberNamespace = `${lab.labPrefix}prober`;
  const cleanNamespace = `${lab.labPrefix}clean`;
  const brokenNamespace = `${lab.labPrefix}broken`;

  describe('vantages (POST /probe with "vantages": local behind the filter, clean, broken)', () => {
    let processes: Record<'local' | 'clean' | 'broken', LabProcess>;

    async function send(method: 'GET' | 'POST', url: string, body?: unknown): Promise<Answer> {
      const command = [process.execPath, '--input-type=module', '-e', requestScript, method, url];
      if (body !== undefined) command.push(JSON.stringify(body));
      const result = await runInNamespace(proberNamespace, command);
      const reply = JSON.parse(result.stdout || '{}') as { status?: number; body?: string };
      if (reply.status === undefined) throw new Error(`no answer from ${url}: ${result.stderr}`);
      return { status: reply.status, body: JSON.parse(reply.body ?? 'null'), raw: reply.body ?? '' };
    }

    /** POSTs a fan-out, waits for its comparison and returns the multi-vantage report. */
    async function probeFromVantages(request: VantageRequest): Promise<MultiVantageReport> {
      const answer = await send('POST', `${apiUrl}/probe?wait=30`, {
        ...request,
        controls: [control],
      });
      if (answer.status !== 200 || answer.body?.status !== 'completed' || !answer.body.report?.vantages) {
        const logs = Object.values(processes)
          .map((child) => `--- ${child.label}\n${child.log.slice(-3000)}`)
          .join('\n');
        throw new Error(`POST /probe answered ${answer.status}: ${answer.raw}\n${logs}`);
      }
      return answer.body.report as MultiVantageReport;
    }

    beforeAll(async () => {
      const password = readFileSync(`${lab.labState}/redis/password`, 'utf8').trim();
      const common = {
        REDIS_URL: `redis://:${password}@${redisAddress}`,
        PROBE_ALLOW_PRIVATE: 'true',
        PROBE_CONTROLS: control,
        VANTAGE_HEARTBEAT_SECONDS: '1',
      };
      processes = {
        // Behind the filtering router, and its own resolver lies (a request naming resolvers overrides it).
        local: new LabProcess('reach serve (vantage local)', proberNamespace, ['serve'], {
          ...common,
          HOST: '127.0.0.1',
          PORT: '8090',
          PROBE_RESOLVERS: lyingResolver,
        }),
        clean: new LabProcess(
          'reach worker --vantage clean',
          cleanNamespace,
          ['worker', '--vantage', 'clean', '--labels', 'network=clean'],
          { ...common, PROBE_RESOLVERS: honestResolver },
        ),
        broken: new LabProcess(
          'reach worker --vantage broken',
          brokenNamespace,
          ['worker', '--vantage', 'broken', '--labels', 'network=broken'],
          { ...common, PROBE_RESOLVERS: honestResolver },
        ),
      };
      await Promise.all([
        processes.local.start(['vantage advertised', 'API listening']),
        processes.clean.start(['vantage advertised']),
        processes.broken.start(['vantage advertised']),
      ]);
      // Node starting three processes at once can take tens of seconds on a loaded 2-core machine.
    }, 120_000);

    afterAll(async () => {
      if (!processes) return;
      await Promise.all(Object.values(processes).map((child) => child.close()));
    }, 30_000);

    it('lists the three vantages, each advertised from its own namespace over the shared Redis', async () => {
      const answer = await send('GET', `${apiUrl}/vantages`);
      expect(answer.status).toBe(200);
      expect(answer.body.vantages.map((vantage: { name: string }) => vantage.name)).toEqual([
        'broken',
        'clean',
        'local',
      ]);
      expect(answer.body.vantages[1]).toMatchObject({ labels: { network: 'clean' } });
    });

    it('localizes a keyword RST on the filtered path to that vantage: filtered_path/filter.keyword_reset, reachable from clean', async () => {
      const report = await probeFromVantages({
        url: 'http://blocked.site-a.test/',
        vantages: 'all',
        resolvers: [honestResolver],
        timeoutMs: 4000,
      });
      expect({ verdict: report.verdict, report }).toMatchObject({
        verdict: { cause: 'filtered_path', code: 'filter.keyword_reset', rule: 'localized' },
      });
      expect(statusesOf(report)).toEqual({ broken: 'completed', clean: 'completed', local: 'completed' });
      const byName = vantagesByName(report);
      expect(codeOf(byName.local)).toBe('filter.keyword_reset');
      expect(codeOf(byName.clean)).toBe('http.ok');
      expect(report.verdict.summary).toMatch(/^Reachable from clean; from local: /);
      expect(reportOf(byName.local).target.http?.hops[0]?.exchange).toMatchObject({
        outcome: 'reset',
        address: '203.0.113.10',
      });
    });

    it('calls a server resetting one name, seen from every vantage, server_fault/http.reset, though each alone says filter.keyword_reset', async () => {
      const report = await probeFromVantages({
        url: 'http://namereset.site-a.test/',
        vantages: 'all',
        resolvers: [honestResolver],
        timeoutMs: 4000,
      });
      expect({ verdict: report.verdict, report }).toMatchObject({
        verdict: { cause: 'server_fault', code: 'http.reset', rule: 'same-everywhere' },
      });
      expect(statusesOf(report)).toEqual({ broken: 'completed', clean: 'completed', local: 'completed' });
      const byName = vantagesByName(report);
      expect([codeOf(byName.local), codeOf(byName.clean)]).toEqual([
        'filter.keyword_reset',
        'filter.keyword_reset',
      ]);
      expect(report.verdict.summary).toMatch(/^Down from all 2 vantages \(clean, local\), the same way/);
    });

    it('localizes a blackhole on the filtered path: filtered_path/filter.blackhole, reachable from clean', async () => {
      const report = await probeFromVantages({
        url: 'http://blackhole.site-a.test/',
        vantages: ['local', 'clean'],
        resolvers: [honestResolver],
        timeoutMs: 3000,
      });
      expect({ verdict: report.verdict, report }).toMatchObject({
        verdict: { cause: 'filtered_path', code: 'filter.blackhole', rule: 'localized' },
      });
      expect(statusesOf(report)).toEqual({ clean: 'completed', local: 'completed' });
      const byName = vantagesByName(report);
      expect(reportOf(byName.local).target.tcp[0]).toMatchObject({
        kind: 'timeout',
        address: '203.0.113.66',
      });
      expect(codeOf(byName.clean)).toBe('http.ok');
      expect(report.verdict.summary).toMatch(/^Reachable from clean; from local: /);
    });

    it('localizes a lying resolver at one vantage (each vantage on its own resolver): filtered_path/dns.tampered', async () => {
      const report = await probeFromVantages({
        url: 'http://tampered.site-a.test/',
        vantages: ['local', 'clean'],
        timeoutMs: 4000,
      });
      expect({ verdict: report.verdict, report }).toMatchObject({
        verdict: { cause: 'filtered_path', code: 'dns.tampered', rule: 'localized' },
      });
      expect(statusesOf(report)).toEqual({ clean: 'completed', local: 'completed' });
      const byName = vantagesByName(report);
      const local = reportOf(byName.local);
      expect(local.resolvers).toEqual([`${lyingResolver}:53`]);
      expect(
        local.target.dns?.resolvers.flatMap((resolver) => resolver.queries.flatMap((q) => q.bogons)),
      ).toContain('10.10.10.10');
      expect(reportOf(byName.clean).target.dns?.addresses).toEqual(['203.0.113.10']);
      expect(report.verdict.summary).toMatch(/^Reachable from clean; from local: /);
    });

    it('leaves a vantage whose own network is broken out of the vote: local_network there, ok/http.ok from the others', async () => {
      const report = await probeFromVantages({
        url: 'http://www.site-a.test/',
        vantages: 'all',
        resolvers: [honestResolver],
        timeoutMs: 4000,
      });
      expect({ verdict: report.verdict, report }).toMatchObject({
        verdict: { cause: 'ok', code: 'http.ok', rule: 'same-everywhere' },
      });
      expect(statusesOf(report)).toEqual({ broken: 'completed', clean: 'completed', local: 'completed' });
      const broken = reportOf(vantagesByName(report).broken);
      expect(broken.verdict).toMatchObject({ cause: 'local_network', code: 'local.no_route' });
      expect(report.verdict.summary).toContain('reachable from all 2 vantages (clean, local)');
      expect(report.verdict.evidence).toContain(
        'vantage broken: out of the vote, its own network fails (local.no_route)',
      );
    });

    /** Creates a monitor probed from every vantage with a quorum of 2, and returns it after its first run. */
    async function monitorAfterFirstRun(name: string, url: string) {
      const created = await send('POST', `${apiUrl}/monitors`, {
        name,
        url,
        intervalSeconds: 3600,
        confirmations: 1,
        resolvers: [honestResolver],
        timeoutMs: 4000,
        vantages: 'all',
        quorum: 2,
      });
      expect(created.status).toBe(201);
      // The first run is queued on create; the monitor API shows it once applied (bounded: 40 reads, 0.5 s apart).
      for (let attempt = 0; attempt < 40; attempt += 1) {
        const monitor = await send('GET', `${apiUrl}/monitors/${created.body.id}`);
        if (monitor.body?.lastRun) return monitor.body;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      throw new Error(`monitor ${name} had no run in 20 s`);
    }

    it('opens no incident for a monitor (quorum 2 of 3) when only the filtered vantage sees the site down', async () => {
      const monitor = await monitorAfterFirstRun('filtered from one path', 'http://blocked.site-a.test/');
      expect(monitor).toMatchObject({ state: 'up', lastRun: { health: 'up', code: 'vantage.below_quorum' } });
      expect(monitor.openIncidentId).toBeUndefined();
      const seen = Object.fromEntries(
        monitor.lastRun.vantages.map((vantage: { name: string; health?: string; cause?: string }) => [
          vantage.name,
          [vantage.health, vantage.cause],
        ]),
      );
      expect(seen).toEqual({
        broken: ['down', 'local_network'],
        clean: ['up', 'ok'],
        local: ['down', 'filtered_path'],
      });
    });

    it('opens an incident for a monitor (quorum 2 of 3) when two vantages see the site down', async () => {
      const monitor = await monitorAfterFirstRun('down from two paths', 'http://reset.site-a.test/');
      expect(monitor).toMatchObject({ state: 'down', lastRun: { health: 'down' } });
      expect(monitor.openIncidentId).toEqual(expect.any(String));
      const down = monitor.lastRun.vantages
        .filter(
          (vantage: { health?: string; cause?: string }) =>
            vantage.health === 'down' && vantage.cause !== 'local_network',
        )
        .map((vantage: { name: string }) => vantage.name);
      expect(down).toEqual(['clean', 'local']);
    });

    // Last: the clean vantage does not come back.
    it('marks a vantage killed mid-probe lost, and the comparison completes by the deadline with the others', async () => {
      const pending = probeFromVantages({
        url: 'http://slow.site-a.test/',
        vantages: ['local', 'clean'],
        resolvers: [honestResolver],
        timeoutMs: 6000,
      });
      // The slow backend holds its answer 2.5 s: once the clean vantage's connection to it is up, its part runs.
      await waitForConnection(cleanNamespace, '203.0.113.10');
      await processes.clean.kill();
      const report = await pending;
      expect(statusesOf(report)).toEqual({ clean: 'lost', local: 'completed' });
      expect({ verdict: report.verdict, report }).toMatchObject({
        verdict: { cause: 'overload', code: 'http.slow_first_byte', rule: 'same-everywhere' },
      });
      expect(report.verdict.summary).toContain('from local, the only vantage that could tell');
      expect(report.verdict.evidence).toContain("vantage clean: lost (no result by the probe's deadline)");
    }, 30_000);
  });
}

/** Waits until a process in the namespace has an established TCP connection to address:80. */
async function waitForConnection(namespace: string, address: string, timeoutMs = 10_000): Promise<void> {
  const giveUpAtMs = Date.now() + timeoutMs;
  while (Date.now() < giveUpAtMs) {
    const sockets = execFileSync(
      'ip',
      ['netns', 'exec', namespace, 'ss', '-Htn', 'state', 'established', 'dst', `${address}:80`],
      { encoding: 'utf8' },
    );
    if (sockets.trim() !== '') return;
    // The kernel offers no event for "a connection was made" to a shell tool: poll it.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no connection to ${address}:80 from ${namespace} in ${timeoutMs} ms`);
}
