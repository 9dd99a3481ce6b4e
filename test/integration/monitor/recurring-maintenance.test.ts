// Recurring maintenance windows against a real redis-server: no alerts inside them, refused when malformed,
// and shown in status.json and on the status page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProviderReceiver, startProviderReceiver } from '../../support/provider-receiver.js';
import { type MonitorSuite, sendJson, startMonitorSuite } from './support.js';

let suite: MonitorSuite;
let slack: ProviderReceiver;

beforeAll(async () => {
  suite = await startMonitorSuite();
  slack = await startProviderReceiver({ status: 200, body: 'ok' });
});

afterAll(async () => {
  await suite?.close();
  await slack?.close();
});

describe('recurring maintenance', () => {
  it('refuses a cron expression or a time zone it cannot read, naming the field', async () => {
    const base = { name: 'Bad', url: suite.site.url, intervalSeconds: 60 };
    const badCron = await sendJson('POST', `${suite.harness.url}/monitors`, {
      ...base,
      recurringMaintenance: [{ cron: '0 25 * * *', durationMinutes: 30 }],
    });
    expect(badCron.status).toBe(400);
    expect(badCron.body.field).toBe('recurringMaintenance.0.cron');
    const badZone = await sendJson('POST', `${suite.harness.url}/monitors`, {
      ...base,
      recurringMaintenance: [{ cron: '0 2 * * 0', timeZone: 'Mars/Olympus', durationMinutes: 30 }],
    });
    expect(badZone.status).toBe(400);
    expect(badZone.body.field).toBe('recurringMaintenance.0.timeZone');
  });

  it('sends no alert for a failure inside a window, and shows the window in progress', async () => {
    const channel = await sendJson('POST', `${suite.harness.url}/channels`, {
      name: 'slack',
      type: 'slack',
      settings: { webhookUrl: `${slack.origin}/services/T/B/x` },
    });
    // Every minute, for two hours: whenever the test runs, it is inside an occurrence.
    const created = await sendJson('POST', `${suite.harness.url}/monitors`, {
      name: 'Nightly',
      url: suite.site.url,
      intervalSeconds: 60,
      confirmations: 1,
      channels: [channel.body.id],
      recurringMaintenance: [
        { cron: '* * * * *', timeZone: 'Europe/Paris', durationMinutes: 120, reason: 'Backups' },
      ],
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await suite.recorder.upTo(id, 1);
    suite.site.mode = 'failing';
    const runs = suite.recorder.next(id, 1);
    await suite.harness.workers.scheduler.runNow(id, 'manual');
    const [run] = await runs;
    suite.site.mode = 'healthy';
    expect(run?.result.entry).toMatchObject({ health: 'down', isMaintenance: true });
    expect(run?.decision?.status.state).toBe('maintenance');
    expect(run?.decision?.status.openIncidentId).toBeUndefined();
    const jobs = await suite.harness.alertQueue.getJobs([
      'waiting',
      'active',
      'completed',
      'delayed',
      'failed',
    ]);
    expect(jobs.filter((job) => job.id?.startsWith(id))).toEqual([]);
    expect(slack.requests).toEqual([]);

    const summary = await sendJson('GET', `${suite.harness.url}/status.json`);
    const windows = summary.body.scheduled_maintenances.filter(
      (window: { components: Array<{ id: string }> }) => window.components[0]?.id === id,
    );
    expect(windows).toEqual([
      expect.objectContaining({ name: 'Backups', status: 'in_progress', impact: 'maintenance' }),
    ]);
    const page = await (await fetch(`${suite.harness.url}/status`)).text();
    expect(page).toContain('Maintenance Backups: in progress');
    expect(page).toContain('<code>* * * * *</code> Europe/Paris');
  });
});
