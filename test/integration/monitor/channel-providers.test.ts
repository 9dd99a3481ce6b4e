// Each notification provider against a loopback receiver that checks its documented request shape (path,
// headers, JSON body) and answers as the provider does: success, a final refusal, and a rate limit.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AlertPayload } from '../../../src/monitor/alerting/alerts.js';
import type { ChannelRecord, ChannelType } from '../../../src/monitor/alerting/channel-settings.js';
import { channelSettingsSchemas } from '../../../src/monitor/alerting/channel-settings.js';
import { type ChannelSenders, createChannelSenders } from '../../../src/monitor/alerting/senders.js';
import { type ProviderReceiver, startProviderReceiver } from '../../support/provider-receiver.js';
import { loopbackPolicy } from './support.js';

const down: AlertPayload = {
  event: 'monitor.state_changed',
  id: 'payload-down-1',
  monitor: { id: 'mon-1', name: 'Shop', url: 'https://shop.example/', tags: ['prod'] },
  oldState: 'up',
  newState: 'down',
  changedAt: '2026-11-30T08:00:00.000Z',
  cause: 'server_fault',
  code: 'http.server_error',
  summary: 'The server answered 500 Internal Server Error',
  incident: { id: 'inc-1', url: 'https://reach.example/status#incident-inc-1' },
  links: { monitor: 'https://reach.example/monitors/mon-1', status: 'https://reach.example/status' },
  vantages: [
    { name: 'paris', status: 'completed', health: 'down', code: 'http.server_error' },
    { name: 'tokyo', status: 'completed', health: 'down', code: 'http.server_error' },
  ],
};
const recovered: AlertPayload = {
  ...down,
  id: 'payload-up-1',
  oldState: 'down',
  newState: 'up',
  cause: 'ok',
  code: 'http.ok',
  summary: 'The site answered 200 OK',
};

let receiver: ProviderReceiver;
let senders: ChannelSenders;

beforeAll(async () => {
  receiver = await startProviderReceiver({ status: 200, body: 'ok' });
  senders = createChannelSenders({ policy: loopbackPolicy, timeoutMs: 2000 });
});

afterAll(async () => {
  await senders?.close();
  await receiver?.close();
});

afterEach(() => {
  receiver.reset();
  receiver.fallback = { status: 200, body: 'ok' };
});

function channel<T extends ChannelType>(type: T, settings: Record<string, unknown>): ChannelRecord {
  return {
    id: '6f1c2a4e-0000-4000-8000-000000000001',
    name: `${type} test`,
    type,
    settings: channelSettingsSchemas[type].parse(settings) as ChannelRecord['settings'],
    createdAt: '2026-11-30T00:00:00.000Z',
    updatedAt: '2026-11-30T00:00:00.000Z',
  };
}

/** The facts every message must carry: cause, code, summary, vantages, since, the incident link. */
function expectAlertFacts(text: string) {
  expect(text).toContain('server_fault');
  expect(text).toContain('http.server_error');
  expect(text).toContain('The server answered 500 Internal Server Error');
  expect(text).toContain('paris: down');
  expect(text).toContain('tokyo: down');
  expect(text).toContain('2026-11-30T08:00:00.000Z');
  expect(text).toContain('https://reach.example/status#incident-inc-1');
}

describe('Slack incoming webhook', () => {
  const slack = () => channel('slack', { webhookUrl: `${receiver.origin}/services/T000/B000/XXXX` });

  it('posts text and blocks as JSON to the webhook URL', async () => {
    const outcome = await senders.senderFor(slack()).send(down);
    expect(outcome).toEqual({ kind: 'delivered', status: 200 });
    const [request] = receiver.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/services/T000/B000/XXXX');
    expect(request?.headers['content-type']).toBe('application/json');
    const body = request?.json as { text: string; blocks: Array<{ type: string }> };
    expect(body.text).toContain('Shop is DOWN');
    expect(body.blocks.map((block) => block.type)).toEqual(['header', 'section', 'section', 'context']);
    expectAlertFacts(request?.text ?? '');
  });

  it('gives up on a 404 no_service and retries a 429 after its Retry-After', async () => {
    receiver.answers.push({ status: 404, body: 'no_service' });
    expect(await senders.senderFor(slack()).send(down)).toMatchObject({
      kind: 'rejected',
      reason: expect.stringContaining('404: no_service'),
    });
    receiver.answers.push({ status: 429, headers: { 'retry-after': '30' }, body: 'rate_limited' });
    expect(await senders.senderFor(slack()).send(down)).toMatchObject({
      kind: 'retry',
      retryAfterMs: 30_000,
    });
  });
});

describe('Discord webhook', () => {
  const discord = () => channel('discord', { webhookUrl: `${receiver.origin}/api/webhooks/123/token-abc` });

  it('posts an embed with no mentions allowed and takes 204 No Content', async () => {
    receiver.answers.push({ status: 204 });
    expect(await senders.senderFor(discord()).send(down)).toEqual({ kind: 'delivered', status: 204 });
    const request = receiver.requests[0];
    expect(request?.path).toBe('/api/webhooks/123/token-abc');
    const body = request?.json as {
      allowed_mentions: unknown;
      embeds: Array<{ title: string; color: number; url: string; fields: unknown[] }>;
    };
    expect(body.allowed_mentions).toEqual({ parse: [] });
    expect(body.embeds[0]?.title).toBe('Shop is DOWN');
    expect(body.embeds[0]?.url).toBe('https://reach.example/status#incident-inc-1');
    expectAlertFacts(request?.text ?? '');
  });

  it("waits the body's retry_after (seconds) on a 429", async () => {
    receiver.answers.push({
      status: 429,
      body: { message: 'You are being rate limited.', retry_after: 1.5, global: false },
    });
    expect(await senders.senderFor(discord()).send(down)).toMatchObject({
      kind: 'retry',
      retryAfterMs: 1500,
    });
  });
});

describe('Microsoft Teams Workflows webhook', () => {
  it('posts a message with an Adaptive Card attachment and takes 202', async () => {
    receiver.answers.push({ status: 202 });
    const teams = channel('teams', {
      webhookUrl: `${receiver.origin}/workflows/abc/triggers/manual/paths/invoke?sig=s`,
    });
    expect(await senders.senderFor(teams).send(down)).toEqual({ kind: 'delivered', status: 202 });
    const request = receiver.requests[0];
    expect(request?.path).toBe('/workflows/abc/triggers/manual/paths/invoke');
    expect(request?.query.get('sig')).toBe('s');
    const body = request?.json as {
      type: string;
      attachments: Array<{
        contentType: string;
        content: { type: string; version: string; actions: unknown[] };
      }>;
    };
    expect(body.type).toBe('message');
    expect(body.attachments[0]?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(body.attachments[0]?.content).toMatchObject({ type: 'AdaptiveCard', version: '1.4' });
    expect(body.attachments[0]?.content.actions).toEqual([
      expect.objectContaining({ type: 'Action.OpenUrl', url: 'https://reach.example/status#incident-inc-1' }),
    ]);
    expectAlertFacts(request?.text ?? '');
  });
});

describe('Telegram sendMessage', () => {
  const telegram = () =>
    channel('telegram', {
      botToken: '123456:ABCdefGhIJKlmNoPQRstu',
      chatId: '-1001234',
      baseUrl: receiver.origin,
    });

  it('posts chat_id and plain text to /bot<token>/sendMessage', async () => {
    receiver.answers.push({ status: 200, body: { ok: true, result: { message_id: 1 } } });
    expect(await senders.senderFor(telegram()).send(down)).toEqual({ kind: 'delivered', status: 200 });
    const request = receiver.requests[0];
    expect(request?.path).toBe('/bot123456:ABCdefGhIJKlmNoPQRstu/sendMessage');
    const body = request?.json as { chat_id: string; text: string; parse_mode?: string };
    expect(body.chat_id).toBe('-1001234');
    expect(body.parse_mode).toBeUndefined();
    expectAlertFacts(body.text);
  });

  it('waits parameters.retry_after on a 429, gives up on 403, and never names the token', async () => {
    receiver.answers.push({
      status: 429,
      body: {
        ok: false,
        error_code: 429,
        description: 'Too Many Requests: retry after 7',
        parameters: { retry_after: 7 },
      },
    });
    expect(await senders.senderFor(telegram()).send(down)).toMatchObject({
      kind: 'retry',
      retryAfterMs: 7000,
    });
    receiver.answers.push({
      status: 403,
      body: { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' },
    });
    const blocked = await senders.senderFor(telegram()).send(down);
    expect(blocked).toMatchObject({ kind: 'rejected', reason: expect.stringContaining('bot was blocked') });
    expect(JSON.stringify(blocked)).not.toContain('ABCdefGhIJKlmNoPQRstu');
  });
});

describe('Mattermost incoming webhook', () => {
  it('posts Markdown text with the channel and user name overrides', async () => {
    const mattermost = channel('mattermost', {
      webhookUrl: `${receiver.origin}/hooks/xxx-generatedkey-xxx`,
      channel: 'ops',
      username: 'reach',
    });
    expect(await senders.senderFor(mattermost).send(down)).toEqual({ kind: 'delivered', status: 200 });
    const request = receiver.requests[0];
    expect(request?.path).toBe('/hooks/xxx-generatedkey-xxx');
    const body = request?.json as { text: string; channel: string; username: string };
    expect(body).toMatchObject({ channel: 'ops', username: 'reach' });
    expect(body.text.startsWith('**Shop is DOWN**')).toBe(true);
    expectAlertFacts(body.text);
  });
});

describe('Google Chat webhook', () => {
  it('posts {text} with the key and token kept in the query', async () => {
    receiver.answers.push({ status: 200, body: { name: 'spaces/AAA/messages/1' } });
    const chat = channel('google_chat', {
      webhookUrl: `${receiver.origin}/v1/spaces/AAA/messages?key=k1&token=t1`,
    });
    expect(await senders.senderFor(chat).send(down)).toEqual({ kind: 'delivered', status: 200 });
    const request = receiver.requests[0];
    expect(request?.path).toBe('/v1/spaces/AAA/messages');
    expect(request?.query.get('key')).toBe('k1');
    expect(request?.query.get('token')).toBe('t1');
    expect(request?.headers['content-type']).toBe('application/json; charset=UTF-8');
    expectAlertFacts((request?.json as { text: string } | undefined)?.text ?? '');
  });

  it('retries RESOURCE_EXHAUSTED (429)', async () => {
    receiver.answers.push({ status: 429, body: { error: { code: 429, status: 'RESOURCE_EXHAUSTED' } } });
    const chat = channel('google_chat', {
      webhookUrl: `${receiver.origin}/v1/spaces/AAA/messages?key=k&token=t`,
    });
    expect(await senders.senderFor(chat).send(down)).toMatchObject({ kind: 'retry' });
  });
});

describe('PagerDuty Events API v2', () => {
  const pagerduty = () =>
    channel('pagerduty', { routingKey: 'R0UT1NGKEY0123456789abcdef012345', baseUrl: receiver.origin });
  const accepted = { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: 'k' } };

  it('triggers on a problem and resolves with the same dedup_key on recovery', async () => {
    receiver.fallback = accepted;
    expect(await senders.senderFor(pagerduty()).send(down)).toEqual({ kind: 'delivered', status: 202 });
    expect(await senders.senderFor(pagerduty()).send(recovered)).toEqual({ kind: 'delivered', status: 202 });
    const [trigger, resolve] = receiver.requests;
    expect(trigger?.path).toBe('/v2/enqueue');
    expect(trigger?.json).toMatchObject({
      routing_key: 'R0UT1NGKEY0123456789abcdef012345',
      event_action: 'trigger',
      dedup_key: 'reach-monitor-mon-1',
      payload: {
        summary: expect.stringContaining('The server answered 500'),
        source: 'https://shop.example/',
        severity: 'critical',
        timestamp: '2026-11-30T08:00:00.000Z',
        class: 'server_fault',
      },
      links: [{ href: 'https://reach.example/status#incident-inc-1', text: 'Incident inc-1' }],
    });
    expectAlertFacts(trigger?.text ?? '');
    expect(resolve?.json).toEqual({
      routing_key: 'R0UT1NGKEY0123456789abcdef012345',
      event_action: 'resolve',
      dedup_key: 'reach-monitor-mon-1',
    });
  });

  it('gives up on 400 invalid event and retries 429', async () => {
    receiver.answers.push({
      status: 400,
      body: { status: 'invalid event', message: 'Event object is invalid' },
    });
    expect(await senders.senderFor(pagerduty()).send(down)).toMatchObject({ kind: 'rejected' });
    receiver.answers.push({ status: 429, body: '' });
    expect(await senders.senderFor(pagerduty()).send(down)).toMatchObject({ kind: 'retry' });
  });
});

describe('Opsgenie Alert API', () => {
  const opsgenie = () =>
    channel('opsgenie', { apiKey: 'eb243592-faa2-4ba2-a551q-1afdf565c889', baseUrl: receiver.origin });

  it('creates an alert with an alias and closes it by alias on recovery, with a GenieKey', async () => {
    receiver.fallback = {
      status: 202,
      body: { result: 'Request will be processed', took: 0.1, requestId: 'r' },
    };
    expect(await senders.senderFor(opsgenie()).send(down)).toEqual({ kind: 'delivered', status: 202 });
    expect(await senders.senderFor(opsgenie()).send(recovered)).toEqual({ kind: 'delivered', status: 202 });
    const [create, close] = receiver.requests;
    expect(create?.path).toBe('/v2/alerts');
    expect(create?.headers.authorization).toBe('GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889');
    expect(create?.json).toMatchObject({
      message: 'Shop is DOWN',
      alias: 'reach-monitor-mon-1',
      priority: 'P2',
      source: 'reach',
      tags: ['prod'],
    });
    expectAlertFacts(create?.text ?? '');
    expect(close?.path).toBe('/v2/alerts/reach-monitor-mon-1/close');
    expect(close?.query.get('identifierType')).toBe('alias');
    expect(close?.headers.authorization).toBe('GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889');
  });

  it('gives up on 401 and retries 429', async () => {
    receiver.answers.push({ status: 401, body: { message: 'Key format is not valid!' } });
    expect(await senders.senderFor(opsgenie()).send(down)).toMatchObject({ kind: 'rejected' });
    receiver.answers.push({ status: 429, body: { message: 'Too many requests' } });
    expect(await senders.senderFor(opsgenie()).send(down)).toMatchObject({ kind: 'retry' });
  });
});

describe('ntfy', () => {
  it('publishes JSON to the root URL with topic, title, priority, tags, click and a bearer token', async () => {
    const ntfy = channel('ntfy', {
      baseUrl: receiver.origin,
      topic: 'reach-alerts_x1',
      token: 'tk_abcdefghijklmnop',
    });
    receiver.answers.push({ status: 200, body: { id: 'm1', event: 'message', topic: 'reach-alerts_x1' } });
    expect(await senders.senderFor(ntfy).send(down)).toEqual({ kind: 'delivered', status: 200 });
    const request = receiver.requests[0];
    expect(request?.path).toBe('/');
    expect(request?.headers.authorization).toBe('Bearer tk_abcdefghijklmnop');
    expect(request?.json).toMatchObject({
      topic: 'reach-alerts_x1',
      title: 'Shop is DOWN',
      priority: 5,
      tags: ['rotating_light'],
      click: 'https://reach.example/status#incident-inc-1',
    });
    expectAlertFacts((request?.json as { message: string } | undefined)?.message ?? '');
  });

  it('retries a 429 (visitor rate limit) and gives up on 403', async () => {
    const ntfy = channel('ntfy', { baseUrl: receiver.origin, topic: 'reach-alerts' });
    receiver.answers.push({
      status: 429,
      body: { code: 42901, http: 429, error: 'limit reached: too many requests' },
    });
    expect(await senders.senderFor(ntfy).send(down)).toMatchObject({ kind: 'retry' });
    receiver.answers.push({ status: 403, body: { code: 40301, http: 403, error: 'forbidden' } });
    expect(await senders.senderFor(ntfy).send(down)).toMatchObject({ kind: 'rejected' });
  });
});

describe('Gotify', () => {
  it('posts to /message with the token in X-Gotify-Key, not in the query', async () => {
    const gotify = channel('gotify', { baseUrl: `${receiver.origin}/gotify/`, token: 'AzyoeNS.D4iJLVa' });
    receiver.answers.push({ status: 200, body: { id: 1, appid: 1, message: 'x', title: 'y', priority: 8 } });
    expect(await senders.senderFor(gotify).send(down)).toEqual({ kind: 'delivered', status: 200 });
    const request = receiver.requests[0];
    expect(request?.path).toBe('/gotify/message');
    expect(request?.query.has('token')).toBe(false);
    expect(request?.headers['x-gotify-key']).toBe('AzyoeNS.D4iJLVa');
    expect(request?.json).toMatchObject({
      title: 'Shop is DOWN',
      priority: 8,
      extras: { 'client::notification': { click: { url: 'https://reach.example/status#incident-inc-1' } } },
    });
    expectAlertFacts((request?.json as { message: string } | undefined)?.message ?? '');
  });

  it('gives up on 401 (bad token)', async () => {
    const gotify = channel('gotify', { baseUrl: receiver.origin, token: 'wrong' });
    receiver.answers.push({ status: 401, body: { error: 'Unauthorized', errorCode: 401 } });
    expect(await senders.senderFor(gotify).send(down)).toMatchObject({ kind: 'rejected' });
  });
});

describe('signed webhook', () => {
  it('posts the payload signed like a monitor webhook', async () => {
    const webhook = channel('webhook', {
      url: `${receiver.origin}/hook`,
      secret: 'channel-secret-0123456789',
    });
    expect(await senders.senderFor(webhook).send(down)).toEqual({ kind: 'delivered', status: 200 });
    const request = receiver.requests[0];
    expect(request?.json).toEqual(down);
    expect(request?.headers['x-reach-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(request?.headers['x-reach-delivery']).toBe('payload-down-1');
  });
});

describe('the address policy', () => {
  it('refuses a destination the policy refuses, without sending', async () => {
    const strict = createChannelSenders({ policy: () => 'a private address', timeoutMs: 2000 });
    try {
      const slack = channel('slack', { webhookUrl: `${receiver.origin}/services/x` });
      expect(await strict.senderFor(slack).send(down)).toMatchObject({ kind: 'refused' });
      const byName = channel('slack', { webhookUrl: receiver.origin.replace('127.0.0.1', 'localhost') });
      expect(await strict.senderFor(byName).send(down)).toMatchObject({ kind: 'refused' });
      expect(receiver.requests).toHaveLength(0);
    } finally {
      await strict.close();
    }
  });
});
