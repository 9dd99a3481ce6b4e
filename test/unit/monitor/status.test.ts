// The status mapping, uptime and percentiles, the page's escaping, signatures and schedule spreading.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signPayload } from '../../../src/monitor/alerting/alerts.js';
import { healthOf } from '../../../src/monitor/run-result.js';
import { scheduledAtOf, spreadMs } from '../../../src/monitor/scheduler.js';
import { type ComponentData, percentile, uptimeOf } from '../../../src/monitor/status/data.js';
import { escapeHtml, renderStatusPage } from '../../../src/monitor/status/page.js';
import { statusSummarySchema } from '../../../src/monitor/status/schema.js';
import { overallStatus, toStatusSummary } from '../../../src/monitor/status/summary.js';

describe('overallStatus', () => {
  it.each([
    [['up', 'up'], 'none', 'All Systems Operational'],
    [['up', 'degraded'], 'minor', 'Minor Service Outage'],
    [['up', 'down'], 'major', 'Partial System Outage'],
    [['down', 'down', 'maintenance'], 'critical', 'Major Service Outage'],
    [['up', 'maintenance'], 'none', 'Service Under Maintenance'],
    [[], 'none', 'All Systems Operational'],
  ] as const)('maps %j to %s', (states, indicator, description) => {
    expect(overallStatus([...states])).toEqual({ indicator, description });
  });
});

describe('uptime and latency', () => {
  it('counts degraded as up, leaves maintenance out, and is null without runs', () => {
    expect(uptimeOf({ up: 6, degraded: 2, down: 2, maintenance: 50 })).toBe(0.8);
    expect(uptimeOf({ up: 0, degraded: 0, down: 0, maintenance: 3 })).toBeNull();
  });

  it('takes nearest-rank percentiles', () => {
    const values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.95)).toBe(100);
    expect(percentile([], 0.5)).toBeNull();
  });

  it('treats overload as degraded and every other failure as down', () => {
    expect(healthOf('ok')).toBe('up');
    expect(healthOf('overload')).toBe('degraded');
    expect(healthOf('filtered_path')).toBe('down');
    expect(healthOf('dns_failure')).toBe('down');
  });
});

const component: ComponentData = {
  monitor: {
    id: 'b6f1e7a2-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
    name: 'Shop <script>alert(1)</script>',
    url: 'https://shop.example/',
    intervalSeconds: 60,
    confirmations: 2,
    tags: [],
    maintenance: [],
    webhooks: [],
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
  },
  status: {
    version: 3,
    state: 'down',
    sinceMs: Date.parse('2026-11-25T08:00:00Z'),
    consecutiveFailures: 2,
    lastStartedAtMs: Date.parse('2026-11-25T08:00:00Z'),
    openIncidentId: 'incident-1',
    lastRun: {
      at: '2026-11-25T08:00:00.000Z',
      health: 'down',
      isMaintenance: false,
      cause: 'filtered_path',
      code: 'filter.sni_reset',
      summary: 'A reset right after the ClientHello naming the site',
      durationMs: 40,
      phasesMs: {},
    },
  },
  uptime: { '24h': 0.5, '7d': 0.9, '30d': null },
  latencyMs: { p50: 12, p95: 30 },
  days: [{ day: '2026-11-25', up: 1, degraded: 0, down: 1, maintenance: 0 }],
};
const incident = {
  id: 'incident-1',
  monitorId: component.monitor.id,
  monitorName: component.monitor.name,
  openedAtMs: Date.parse('2026-11-25T08:00:00Z'),
  cause: 'filtered_path',
  code: 'filter.sni_reset',
  summary: 'A reset right after the ClientHello naming the site',
  updates: [
    {
      atMs: Date.parse('2026-11-25T08:00:00Z'),
      cause: 'filtered_path',
      code: 'filter.sni_reset',
      summary: 'reset',
    },
  ],
};
const data = {
  generatedAtMs: Date.parse('2026-11-25T09:00:00Z'),
  components: [component],
  incidents: [incident],
};

describe('toStatusSummary', () => {
  it('produces the Statuspage summary shape with our extension, valid against the schema', () => {
    const summary = toStatusSummary(data, { id: 'reach', name: 'Status', url: '/status' });
    expect(statusSummarySchema.parse(summary)).toEqual(summary);
    expect(summary.status.indicator).toBe('critical');
    expect(summary.components[0]).toMatchObject({
      status: 'major_outage',
      reach: { state: 'down', uptime: { '30d': null } },
    });
    expect(summary.incidents[0]).toMatchObject({ id: 'incident-1', status: 'identified', resolved_at: null });
    expect(summary.reach.recentIncidents).toEqual([]);
  });
});

describe('renderStatusPage', () => {
  it('escapes names and refreshes itself', () => {
    const html = renderStatusPage(data, { title: 'Status', refreshSeconds: 30 }, { refresh: 'on' });
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain(escapeHtml('Shop <script>alert(1)</script>'));
    expect(html).toContain('<meta http-equiv="refresh" content="30">');
    expect(html).toContain('Something on the network path is blocking it');
    expect(html).not.toContain('<script src=');
  });

  it('keeps itself current with its script unless asked to reload, each live region marked once', () => {
    const html = renderStatusPage(data, { title: 'Status', refreshSeconds: 30 });
    expect(html).not.toContain('http-equiv="refresh"');
    expect(html).toContain('<html lang="en" data-live-seconds="30">');
    expect(html).toContain('<script src="status-live.js" defer></script>');
    expect(html).toContain('<p class="live" id="live" hidden>');
    const regions = [...html.matchAll(/data-live="([a-z]+)"/g)].map((match) => match[1]);
    expect(regions).toEqual(['overall', 'totals', 'summary', 'listing', 'recent', 'updated']);
  });
});

describe('signPayload', () => {
  it('signs "<timestamp>.<body>" with HMAC-SHA256', () => {
    const body = '{"event":"monitor.state_changed"}';
    const expected = createHmac('sha256', 'secret-secret-secret').update(`1700000000.${body}`).digest('hex');
    expect(signPayload('secret-secret-secret', body, 1_700_000_000)).toBe(`t=1700000000,v1=${expected}`);
  });
});

describe('scheduling helpers', () => {
  it('spreads monitors over their interval, stably per id', () => {
    const spreads = Array.from({ length: 1000 }, (_, index) => spreadMs(`monitor-${index}`, 60_000));
    expect(spreadMs('monitor-1', 60_000)).toBe(spreads[1]);
    expect(Math.min(...spreads)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...spreads)).toBeLessThan(60_000);
    // Every 10-second slice of the minute gets some of them: no herd on one second.
    const slices = new Set(spreads.map((spread) => Math.floor(spread / 10_000)));
    expect(slices.size).toBe(6);
  });

  it('reads the intended time from a scheduler job id and nothing from other ids', () => {
    expect(scheduledAtOf('repeat:monitor:0b6f:1732525200000')).toBe(1_732_525_200_000);
    expect(scheduledAtOf('42')).toBeUndefined();
    expect(scheduledAtOf(undefined)).toBeUndefined();
  });
});
