// The status views beyond /status and /status.json, over real HTTP against a real redis-server: the Statuspage
// v2 paths validated against the Statuspage shapes, paging and filtering, the incident feed and the badges.
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import express from 'express';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMonitorConfig } from '../../../../src/monitor/config.js';
import { createStatusRouter } from '../../../../src/monitor/http/routes.js';
import type { MonitorState } from '../../../../src/monitor/records.js';
import { MonitorStore } from '../../../../src/monitor/store.js';
import { problemMiddleware } from '../../../../src/requests/problems.js';
import { startRedis, type TestRedis } from '../../../support/redis.js';
import { monitorRecord } from '../support.js';

const nowMs = Date.now();
const idOf = (index: number) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`;
/** Six monitors: two groups and one ungrouped; one down with an open incident, one degraded, one resolved. */
const monitors: Array<{ name: string; group?: string; state: MonitorState }> = [
  { name: 'Website', group: 'Public', state: 'up' },
  { name: 'Checkout', group: 'Public', state: 'down' },
  { name: 'Search', group: 'Public', state: 'degraded' },
  { name: 'Billing', group: 'Internal', state: 'up' },
  { name: 'Reports', group: 'Internal', state: 'maintenance' },
  { name: 'Status of <b>legacy</b>', state: 'up' },
];

let redis: TestRedis;
let client: Redis;
let server: Server;
let baseUrl: string;
const statuspage = JSON.parse(
  await readFile(new URL('../../../fixtures/statuspage/v2.schema.json', import.meta.url), 'utf8'),
);
const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addSchema(statuspage);
const shapeOf = (name: string) => {
  const validate = ajv.getSchema(`${statuspage.$id}#/definitions/${name}`);
  if (!validate) throw new Error(`no schema ${name}`);
  return validate;
};

async function get(path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    headers: { 'accept-encoding': 'identity', ...headers },
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const store = new MonitorStore(client, {
    keyPrefix: 'status-paths-test:monitor',
    historyMaxAgeSeconds: 86_400,
    historyMaxEntries: 100,
  });
  for (const [index, monitor] of monitors.entries()) {
    const id = idOf(index);
    await store.putMonitor(
      monitorRecord(id, {
        name: monitor.name,
        // The page lists monitors in the order they were created.
        createdAt: new Date(Date.parse('2026-03-01T00:00:00Z') + index * 60_000).toISOString(),
        ...(monitor.group ? { group: monitor.group } : {}),
        maintenance:
          monitor.state === 'maintenance'
            ? [
                {
                  startsAt: new Date(nowMs - 3_600_000).toISOString(),
                  endsAt: new Date(nowMs + 3_600_000).toISOString(),
                  reason: 'Database upgrade',
                },
              ]
            : [],
      }),
    );
    const health = monitor.state === 'down' ? 'down' : monitor.state === 'degraded' ? 'degraded' : 'up';
    await store.recordRun(id, {
      startedAtMs: nowMs - 60_000,
      summary: 'run',
      entry: {
        at: new Date(nowMs - 60_000).toISOString(),
        trigger: 'schedule',
        health,
        isMaintenance: false,
        cause: health === 'up' ? 'ok' : 'server_fault',
        code: health === 'up' ? 'http.ok' : 'http.server_error',
        durationMs: 40 + index * 100,
        phasesMs: {},
      },
    });
    let openIncidentId: string | undefined;
    if (monitor.state === 'down' || monitor.name === 'Website') {
      const incidentId = `incident-${index}`;
      await store.openIncident({
        id: incidentId,
        monitorId: id,
        monitorName: monitor.name,
        openedAtMs: nowMs - 7_200_000,
        cause: 'server_fault',
        code: 'http.server_error',
        summary: 'The server answered 500.',
      });
      if (monitor.state === 'down') openIncidentId = incidentId;
      else await store.resolveIncident(incidentId, nowMs - 3_600_000);
    }
    const outcome = await store.casStatus(id, 0, {
      version: 1,
      state: monitor.state,
      sinceMs: nowMs - 7_200_000,
      consecutiveFailures: monitor.state === 'down' ? 2 : 0,
      lastStartedAtMs: nowMs - 60_000,
      ...(openIncidentId ? { openIncidentId } : {}),
    });
    expect(outcome).toBe('written');
  }
  const app = express();
  app.set('etag', false);
  app.use(
    createStatusRouter({
      store,
      config: loadMonitorConfig({ STATUS_CACHE_SECONDS: '30', STATUS_PAGE_TITLE: 'Acme status' }),
    }),
  );
  app.use(problemMiddleware(pino({ level: 'silent' })));
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  client?.disconnect();
  await redis?.dispose();
});

describe('the Statuspage v2 paths', () => {
  it.each([
    ['summary.json', 'summary.json'],
    ['status.json', 'status.json'],
    ['components.json', 'components.json'],
    ['incidents.json', 'incidents.json'],
    ['incidents/unresolved.json', 'incidents.json'],
    ['scheduled-maintenances.json', 'scheduled-maintenances.json'],
    ['scheduled-maintenances/upcoming.json', 'scheduled-maintenances.json'],
    ['scheduled-maintenances/active.json', 'scheduled-maintenances.json'],
  ])('answers /api/v2/%s in the Statuspage shape', async (path, shape) => {
    const response = await get(`/api/v2/${path}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('etag')).toMatch(/^"/);
    const validate = shapeOf(shape);
    const body = JSON.parse(response.text);
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
  });

  it('lists each group as a group component naming its monitors, and each monitor under its group_id', async () => {
    const body = JSON.parse((await get('/api/v2/components.json')).text);
    const groups = body.components.filter((component: { group: boolean }) => component.group);
    expect(groups.map((group: { name: string }) => group.name)).toEqual(['Public', 'Internal']);
    const publicGroup = groups[0];
    expect(publicGroup.status).toBe('major_outage');
    expect(publicGroup.components).toEqual([idOf(0), idOf(1), idOf(2)]);
    const checkout = body.components.find((component: { id: string }) => component.id === idOf(1));
    expect(checkout).toMatchObject({ group_id: publicGroup.id, status: 'major_outage', group: false });
    expect(checkout.reach).toBeUndefined();
    const legacy = body.components.find((component: { id: string }) => component.id === idOf(5));
    expect(legacy.group_id).toBeNull();
  });

  it('says the overall status, the open incident and the maintenance in progress', async () => {
    const summary = JSON.parse((await get('/api/v2/summary.json')).text);
    expect(summary.status).toEqual({ indicator: 'major', description: 'Partial System Outage' });
    expect(summary.incidents.map((incident: { name: string }) => incident.name)).toEqual([
      'Checkout is down',
    ]);
    const active = JSON.parse((await get('/api/v2/scheduled-maintenances/active.json')).text);
    expect(active.scheduled_maintenances).toHaveLength(1);
    expect(active.scheduled_maintenances[0]).toMatchObject({
      name: 'Database upgrade',
      status: 'in_progress',
      impact: 'maintenance',
    });
    const all = JSON.parse((await get('/api/v2/incidents.json')).text);
    expect(all.incidents.map((incident: { status: string }) => incident.status).sort()).toEqual([
      'identified',
      'resolved',
    ]);
    expect((await get('/api/v2/status.json?page=1')).status).toBe(400);
  });

  it('pages components.json on request, with the groups of the page', async () => {
    const body = JSON.parse((await get('/api/v2/components.json?group=Internal&per_page=1&page=2')).text);
    expect(shapeOf('components.json')(body)).toBe(true);
    expect(body.components.map((component: { name: string }) => component.name)).toEqual([
      'Internal',
      'Reports',
    ]);
    expect(body.reach.page).toEqual({ page: 2, perPage: 1, pageCount: 2, total: 2 });
  });
});

describe('GET /status.json and /status, paged and filtered', () => {
  it('answers a page of status.json that still validates against docs/status.schema.json', async () => {
    const published = JSON.parse(
      await readFile(new URL('../../../../docs/status.schema.json', import.meta.url), 'utf8'),
    );
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(published);
    const full = JSON.parse((await get('/status.json')).text);
    expect(full.components).toHaveLength(6);
    expect(full.reach.page).toBeUndefined();
    const paged = JSON.parse((await get('/status.json?per_page=4&page=2')).text);
    expect(validate(paged), JSON.stringify(validate.errors)).toBe(true);
    expect(paged.components.map((component: { name: string }) => component.name)).toEqual([
      'Reports',
      'Status of <b>legacy</b>',
    ]);
    expect(paged.reach.page).toEqual({ page: 2, perPage: 4, pageCount: 2, total: 6 });
    expect(paged.reach.incidents).toMatchObject({ unresolved: 1 });
  });

  it("carries only the incidents and maintenances of the page's monitors, and counts and links the rest", async () => {
    const first = JSON.parse((await get('/status.json?per_page=4&page=1')).text);
    const second = JSON.parse((await get('/status.json?per_page=4&page=2')).text);
    const everything = {
      unresolved: 1,
      recentlyResolved: 1,
      unresolvedUrl: '/api/v2/incidents/unresolved.json',
    };
    // Checkout (down) and Website (resolved) are on page 1; Reports (in maintenance) on page 2.
    expect(first.incidents.map((incident: { name: string }) => incident.name)).toEqual(['Checkout is down']);
    expect(first.reach.recentIncidents.map((incident: { name: string }) => incident.name)).toEqual([
      'Website is down',
    ]);
    expect(first.scheduled_maintenances).toEqual([]);
    expect(first.reach.incidents).toEqual(everything);
    expect(second.incidents).toEqual([]);
    expect(second.reach.recentIncidents).toEqual([]);
    expect(second.scheduled_maintenances.map((window: { name: string }) => window.name)).toEqual([
      'Database upgrade',
    ]);
    expect(second.reach.incidents).toEqual(everything);
    // Unpaged, the summary is whole, as Statuspage clients expect.
    expect(JSON.parse((await get('/status.json')).text).reach.incidents).toBeUndefined();
  });

  it('pages the open incidents at /api/v2/incidents/unresolved.json in the Statuspage shape', async () => {
    const whole = JSON.parse((await get('/api/v2/incidents/unresolved.json')).text);
    expect(whole.reach).toBeUndefined();
    const first = JSON.parse((await get('/api/v2/incidents/unresolved.json?per_page=1&page=1')).text);
    expect(shapeOf('incidents.json')(first), JSON.stringify(shapeOf('incidents.json').errors)).toBe(true);
    expect(first.incidents).toEqual(whole.incidents);
    expect(first.reach.page).toEqual({ page: 1, perPage: 1, pageCount: 1, total: 1 });
    const past = JSON.parse((await get('/api/v2/incidents/unresolved.json?page=9')).text);
    expect(past.reach.page).toEqual({ page: 1, perPage: 50, pageCount: 1, total: 1 });
    for (const query of ['?page=0', '?per_page=100000', '?state=down'])
      expect((await get(`/api/v2/incidents/unresolved.json${query}`)).status, query).toBe(400);
  });

  it('shows the summary first, then the filtered page of monitors with a pager', async () => {
    const page = await get('/status?state=up&per_page=1&page=2');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("form-action 'self'");
    const html = page.text;
    expect(html.indexOf('id="not-operational"')).toBeLessThan(html.indexOf('id="monitors"'));
    expect(html).toMatch(/<dt>Monitors<\/dt><dd>6<\/dd>/);
    expect(html).toMatch(/<dt>Down<\/dt><dd>1<\/dd>/);
    expect(html).toContain('Showing 2–2 of 3 matching (of 6)');
    expect(html).toContain('id="monitor-00000000-0000-4000-8000-000000000003"');
    expect(html).not.toContain('id="monitor-00000000-0000-4000-8000-000000000000"');
    expect(html).toContain('href="status?state=up&amp;per_page=1&amp;page=1#monitors" rel="prev"');
    expect(html).toContain('Page 2 of 3');
    expect(html).toContain('<a href="status?group=Public">Public</a>');
    expect(html).not.toContain('<b>legacy</b>');
  });

  it('treats an empty field as no filter and refuses unknown or malformed ones with a problem', async () => {
    const all = await get('/status?group=&state=&q=');
    expect(all.text).toContain('Showing 1–6 of 6.');
    for (const query of ['?state=sideways', '?page=0', '?per_page=100000', '?colour=red']) {
      const refused = await get(`/status${query}`);
      expect(refused.status, query).toBe(400);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
    }
  });
});

describe('GET /history.atom', () => {
  it('is an Atom feed with one entry per open or recently resolved incident, newest change first', async () => {
    const feed = await get('/history.atom');
    expect(feed.status).toBe(200);
    expect(feed.headers.get('content-type')).toBe('application/atom+xml; charset=utf-8');
    expect(feed.text).toMatch(
      /^<\?xml version="1.0" encoding="utf-8"\?>\n<feed xmlns="http:\/\/www.w3.org\/2005\/Atom">/,
    );
    const titles = [...feed.text.matchAll(/<entry>[\s\S]*?<title>([^<]*)<\/title>/g)].map(
      (match) => match[1],
    );
    expect(titles).toEqual(['Website was down (resolved)', 'Checkout is down']);
    expect(
      feed.text.match(
        /<id>urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}<\/id>/g,
      ),
    ).toHaveLength(3);
  });
});

describe('GET /badge/:id/<kind>.svg', () => {
  it('draws the state, uptime and response time of a monitor as cacheable SVG', async () => {
    const status = await get(`/badge/${idOf(1)}/status.svg`);
    expect(status.status).toBe(200);
    expect(status.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8');
    expect(status.headers.get('cache-control')).toBe('public, max-age=30');
    expect(status.text).toContain('aria-label="status: down"');
    expect(status.text).toContain('fill="#c62828"');
    const etag = status.headers.get('etag') ?? '';
    expect((await get(`/badge/${idOf(1)}/status.svg`, { 'if-none-match': etag })).status).toBe(304);

    const uptime = await get(`/badge/${idOf(0)}/uptime.svg?window=24h&label=Website`);
    expect(uptime.text).toContain('aria-label="Website: 100%"');
    const latency = await get(`/badge/${idOf(3)}/response-time.svg`);
    expect(latency.text).toContain('aria-label="response time p50: 340 ms"');
  });

  it('answers an unknown monitor or kind with 404 and a bad query with 400', async () => {
    expect((await get(`/badge/${idOf(99)}/status.svg`)).status).toBe(404);
    expect((await get(`/badge/${idOf(0)}/colour.svg`)).status).toBe(404);
    expect((await get(`/badge/${idOf(0)}/status.png`)).status).toBe(404);
    expect((await get(`/badge/${idOf(0)}/uptime.svg?window=1y`)).status).toBe(400);
  });
});
