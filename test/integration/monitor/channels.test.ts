// Notification channels end to end against a real redis-server: the /channels API (secrets masked, settings
// merged, policy refusals, test messages), and state changes reaching channels through the alert queue.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ProviderReceiver, startProviderReceiver } from '../../support/provider-receiver.js';
import { type MonitorSuite, sendJson, startMonitorSuite } from './support.js';

let suite: MonitorSuite;
let slack: ProviderReceiver;
let pagerduty: ProviderReceiver;

beforeAll(async () => {
  suite = await startMonitorSuite();
  slack = await startProviderReceiver({ status: 200, body: 'ok' });
  pagerduty = await startProviderReceiver({
    status: 202,
    body: { status: 'success', message: 'Event processed' },
  });
});

afterAll(async () => {
  await suite?.close();
  await slack?.close();
  await pagerduty?.close();
});

beforeEach(() => {
  suite.site.mode = 'healthy';
  slack.reset();
  pagerduty.reset();
});

const routingKey = 'R0UT1NGKEY0123456789abcdef012345';

async function createChannel(
  body: Record<string, unknown>,
): Promise<{ id: string } & Record<string, unknown>> {
  const response = await sendJson('POST', `${suite.harness.url}/channels`, body);
  expect(response.status).toBe(201);
  return response.body;
}

async function createMonitor(body: Record<string, unknown>): Promise<string> {
  const response = await sendJson('POST', `${suite.harness.url}/monitors`, {
    name: 'Shop',
    url: suite.site.url,
    intervalSeconds: 60,
    confirmations: 1,
    ...body,
  });
  expect(response.status).toBe(201);
  await suite.recorder.upTo(response.body.id, 1);
  return response.body.id as string;
}

async function tick(monitorId: string) {
  const runs = suite.recorder.next(monitorId, 1);
  await suite.harness.workers.scheduler.runNow(monitorId, 'manual');
  return runs;
}

describe('the channel API', () => {
  it('keeps secrets but answers them masked, and merges a settings patch', async () => {
    const webhookUrl = `${slack.origin}/services/T1/B1/very-secret-token`;
    const created = await createChannel({ name: 'ops slack', type: 'slack', settings: { webhookUrl } });
    expect(created).toMatchObject({
      name: 'ops slack',
      type: 'slack',
      settings: { webhookUrl: `${slack.origin}/****` },
    });
    expect(JSON.stringify(created)).not.toContain('very-secret-token');
    const listed = await sendJson('GET', `${suite.harness.url}/channels`);
    expect(JSON.stringify(listed.body)).not.toContain('very-secret-token');

    const pd = await createChannel({ name: 'pager', type: 'pagerduty', settings: { routingKey } });
    expect(pd.settings).toEqual({ routingKey: '****2345', baseUrl: 'https://events.pagerduty.com' });
    // A patch that leaves the key out keeps it; the base URL moves to the regional endpoint.
    const patched = await sendJson('PATCH', `${suite.harness.url}/channels/${pd.id}`, {
      settings: { baseUrl: 'https://events.eu.pagerduty.com' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.settings).toEqual({
      routingKey: '****2345',
      baseUrl: 'https://events.eu.pagerduty.com',
    });
    const stored = await suite.harness.api.channels.get(pd.id);
    expect(stored?.settings).toMatchObject({ routingKey });
  });

  it('answers problems for bad input, an unknown type and a destination the policy refuses', async () => {
    const unknownType = await sendJson('POST', `${suite.harness.url}/channels`, {
      name: 'x',
      type: 'carrier_pigeon',
      settings: {},
    });
    expect(unknownType.status).toBe(400);
    expect(unknownType.headers.get('content-type')).toContain('application/problem+json');
    const badToken = await sendJson('POST', `${suite.harness.url}/channels`, {
      name: 'x',
      type: 'telegram',
      settings: { botToken: 'nope', chatId: '42' },
    });
    expect(badToken.status).toBe(400);
    expect(badToken.body.field).toBe('settings.botToken');
    // The harness policy allows 127.0.0.1 only, as a public service would allow no private address.
    const inside = await sendJson('POST', `${suite.harness.url}/channels`, {
      name: 'x',
      type: 'gotify',
      settings: { baseUrl: 'http://10.0.0.7:8080', token: 'AzyoeNS.D4iJLVa' },
    });
    expect(inside.status).toBe(422);
    expect(inside.body.detail).toContain('10.0.0.7');
    expect(JSON.stringify(inside.body)).not.toContain('AzyoeNS');
  });

  it('sends a test message on POST /channels/:id/test and reports a provider refusal as 502', async () => {
    const channel = await createChannel({
      name: 'test me',
      type: 'slack',
      settings: { webhookUrl: `${slack.origin}/services/T2/B2/tok` },
    });
    const sent = await sendJson('POST', `${suite.harness.url}/channels/${channel.id}/test`);
    expect(sent).toMatchObject({ status: 200, body: { outcome: 'delivered', status: 200 } });
    expect(slack.requests[0]?.text).toContain('Test message from reach');

    slack.answers.push({ status: 403, body: 'invalid_token' });
    const refused = await sendJson('POST', `${suite.harness.url}/channels/${channel.id}/test`);
    expect(refused.status).toBe(502);
    expect(refused.body).toMatchObject({
      outcome: 'rejected',
      detail: expect.stringContaining('invalid_token'),
    });
    expect(refused.body.detail).not.toContain('/services/T2');
  });

  it('refuses a monitor naming an unknown channel, and a delete while a monitor uses the channel', async () => {
    const unknown = await sendJson('POST', `${suite.harness.url}/monitors`, {
      name: 'Shop',
      url: suite.site.url,
      intervalSeconds: 60,
      channels: ['5b0f3a1e-1111-4111-8111-111111111111'],
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].field).toBe('channels.0');
    const channel = await createChannel({
      name: 'in use',
      type: 'slack',
      settings: { webhookUrl: `${slack.origin}/services/T3/B3/tok` },
    });
    const monitorId = await createMonitor({ name: 'User', channels: [channel.id] });
    const conflict = await sendJson('DELETE', `${suite.harness.url}/channels/${channel.id}`);
    expect(conflict.status).toBe(409);
    expect(conflict.body.monitors).toEqual([monitorId]);
    await sendJson('PATCH', `${suite.harness.url}/monitors/${monitorId}`, { channels: [] });
    expect((await sendJson('DELETE', `${suite.harness.url}/channels/${channel.id}`)).status).toBe(204);
    expect((await sendJson('GET', `${suite.harness.url}/channels/${channel.id}`)).status).toBe(404);
  });
});

describe('alerts through channels', () => {
  it('pages on down and resolves the same page on recovery, and tells Slack both times', async () => {
    const slackChannel = await createChannel({
      name: 'slack',
      type: 'slack',
      settings: { webhookUrl: `${slack.origin}/services/T4/B4/tok` },
    });
    const pdChannel = await createChannel({
      name: 'pd',
      type: 'pagerduty',
      settings: { routingKey, baseUrl: pagerduty.origin },
    });
    const id = await createMonitor({ name: 'Paged', channels: [slackChannel.id, pdChannel.id] });
    suite.site.mode = 'failing';
    await tick(id);
    const trigger = await pagerduty.nth(1);
    expect(trigger.json).toMatchObject({
      event_action: 'trigger',
      dedup_key: `reach-monitor-${id}`,
      payload: { severity: 'critical', class: 'server_fault' },
    });
    expect((await slack.nth(1)).text).toContain('Paged is DOWN');

    suite.site.mode = 'healthy';
    await tick(id);
    expect((await pagerduty.nth(2)).json).toEqual({
      routing_key: routingKey,
      event_action: 'resolve',
      dedup_key: `reach-monitor-${id}`,
    });
    expect((await slack.nth(2)).text).toContain('Paged recovered');
  });

  it("waits what a rate-limited provider's Retry-After asks before the next attempt", async () => {
    const channel = await createChannel({
      name: 'busy slack',
      type: 'slack',
      settings: { webhookUrl: `${slack.origin}/services/T5/B5/tok` },
    });
    const id = await createMonitor({ name: 'Limited', channels: [channel.id] });
    slack.answers.push({ status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' });
    suite.site.mode = 'failing';
    await tick(id);
    const [first, second] = [await slack.nth(1), await slack.nth(2)];
    expect(second.text).toBe(first.text);
    // The backoff alone would be 20 ms: the second attempt waited the second Slack asked for.
    expect(second.atMs - first.atMs).toBeGreaterThanOrEqual(1000);
  });
});
