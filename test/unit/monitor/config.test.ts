// Monitoring settings from the environment, and which webhooks a state change goes to.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config.js';
import { webhooksFor } from '../../../src/monitor/alerting/alerts.js';
import { loadMonitorConfig } from '../../../src/monitor/config.js';
import type { MonitorRecord } from '../../../src/monitor/records.js';

describe('loadMonitorConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    const config = loadMonitorConfig({});
    expect(config).toMatchObject({
      concurrency: 64,
      history: { maxAgeSeconds: 604_800, maxEntries: 1440 },
      recheckDelayMs: 0,
      firstTickDelayMs: 0,
      alerts: {
        globalWebhooks: [],
        attempts: 10,
        backoffMs: 2000,
        timeoutMs: 5000,
        concurrency: 256,
        perDestinationConcurrency: 4,
        isPrivateDestinationAllowed: false,
      },
      status: { title: 'Service status', refreshSeconds: 60, cacheSeconds: 5, frameAncestors: [] },
    });
  });

  it('names the variable at fault', () => {
    expect(() => loadMonitorConfig({ MONITOR_CONCURRENCY: 'many' })).toThrow(ConfigError);
    expect(() => loadMonitorConfig({ MONITOR_CONCURRENCY: 'many' })).toThrow(/MONITOR_CONCURRENCY/);
  });

  it('refuses global webhooks without a secret to sign them', () => {
    expect(() => loadMonitorConfig({ ALERT_WEBHOOK_URLS: 'https://hooks.example/a' })).toThrow(
      /ALERT_WEBHOOK_SECRET/,
    );
    const config = loadMonitorConfig({
      ALERT_WEBHOOK_URLS: 'https://hooks.example/a, https://hooks.example/b',
      ALERT_WEBHOOK_SECRET: 'a-global-secret-0123',
    });
    expect(config.alerts.globalWebhooks).toEqual([
      { url: 'https://hooks.example/a', secret: 'a-global-secret-0123' },
      { url: 'https://hooks.example/b', secret: 'a-global-secret-0123' },
    ]);
  });
});

describe('webhooksFor', () => {
  it('sends to the global webhooks and the monitor’s own, naming each without its secret', () => {
    const monitor = {
      id: 'monitor-1',
      webhooks: [{ url: 'https://team.example/hook', secret: 'team-secret-0123456789' }],
    } as MonitorRecord;
    const targets = webhooksFor(monitor, [
      { url: 'https://ops.example/hook', secret: 'ops-secret-0123456789' },
    ]);
    expect(targets).toEqual([
      { scope: 'global', index: 0, url: 'https://ops.example/hook' },
      { scope: 'monitor', monitorId: 'monitor-1', index: 0, url: 'https://team.example/hook' },
    ]);
    expect(JSON.stringify(targets)).not.toContain('secret');
  });
});
