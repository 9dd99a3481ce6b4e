// The pure parts of channels: Retry-After reading, the retry wait, secret masking and the message facts.
import { describe, expect, it } from 'vitest';
import { alertBackoffMs, DeliveryError } from '../../../../src/monitor/alerting/alerts.js';
import {
  maxRetryAfterMs,
  outcomeOfAnswer,
  retryAfterMsOf,
} from '../../../../src/monitor/alerting/channel.js';
import { maskedSecret, maskedSettings } from '../../../../src/monitor/alerting/channel-settings.js';
import { messageTextOf } from '../../../../src/monitor/alerting/message.js';

describe('retryAfterMsOf', () => {
  it('reads seconds and HTTP dates, bounded, and ignores what it cannot read', () => {
    const nowMs = Date.parse('2026-11-30T08:00:00Z');
    expect(retryAfterMsOf('30', nowMs)).toBe(30_000);
    expect(retryAfterMsOf('0.5', nowMs)).toBe(500);
    expect(retryAfterMsOf('Mon, 30 Nov 2026 08:00:10 GMT', nowMs)).toBe(10_000);
    expect(retryAfterMsOf('Mon, 30 Nov 2026 07:00:00 GMT', nowMs)).toBe(0);
    expect(retryAfterMsOf('172800', nowMs)).toBe(maxRetryAfterMs);
    expect(retryAfterMsOf('soon', nowMs)).toBeUndefined();
    expect(retryAfterMsOf(undefined, nowMs)).toBeUndefined();
  });
});

describe('outcomeOfAnswer', () => {
  const answer = (status: number, headers: Record<string, string> = {}, text = '') => ({
    status,
    headers,
    text,
  });
  it('delivers 2xx, retries 429/5xx/408 with Retry-After, rejects other 4xx', () => {
    expect(outcomeOfAnswer('Slack', 'https://h:443', answer(204))).toEqual({
      kind: 'delivered',
      status: 204,
    });
    expect(outcomeOfAnswer('Slack', 'https://h:443', answer(429, { 'retry-after': '3' }))).toMatchObject({
      kind: 'retry',
      retryAfterMs: 3000,
    });
    expect(outcomeOfAnswer('Slack', 'https://h:443', answer(502))).toMatchObject({ kind: 'retry' });
    expect(outcomeOfAnswer('Slack', 'https://h:443', answer(408))).toMatchObject({ kind: 'retry' });
    expect(outcomeOfAnswer('Slack', 'https://h:443', answer(410, {}, 'channel_is_archived'))).toEqual({
      kind: 'rejected',
      reason: 'Slack at https://h:443 answered 410: channel_is_archived',
    });
  });
});

describe('alertBackoffMs', () => {
  it("waits the receiver's Retry-After when it gave one, else doubles the base", () => {
    expect(alertBackoffMs(1, 100, new DeliveryError('busy', 7000))).toBe(7000);
    expect(alertBackoffMs(1, 100, new DeliveryError('down'))).toBe(100);
    expect(alertBackoffMs(3, 100, new Error('other'))).toBe(400);
  });
});

describe('masking', () => {
  it('keeps a URL secret to its origin and a long token to its last four characters', () => {
    expect(maskedSecret('https://hooks.slack.com/services/T0/B0/abc')).toBe('https://hooks.slack.com/****');
    expect(maskedSecret('R0UT1NGKEY0123456789abcdef012345')).toBe('****2345');
    expect(maskedSecret('short-token')).toBe('****');
  });

  it('masks only the secret fields of a provider', () => {
    const masked = maskedSettings({
      id: 'c',
      name: 'n',
      type: 'ntfy',
      settings: { baseUrl: 'https://ntfy.example', topic: 'reach-alerts', token: 'tk_abcdefghijklmnop' },
      createdAt: '',
      updatedAt: '',
    });
    expect(masked).toEqual({ baseUrl: 'https://ntfy.example', topic: '****', token: '****mnop' });
  });
});

describe('messageTextOf', () => {
  const payload = {
    event: 'monitor.state_changed' as const,
    id: 'p',
    monitor: { id: 'm', name: 'Shop', url: 'https://shop.example/', tags: [] },
    oldState: 'down',
    newState: 'up',
    changedAt: '2026-11-30T08:00:00.000Z',
    cause: 'ok',
    code: 'http.ok',
    summary: 'The site answered 200 OK',
    incident: { id: 'i', url: 'https://reach.example/status#incident-i' },
    links: { monitor: 'https://reach.example/monitors/m', status: 'https://reach.example/status' },
  };

  it('names a recovery as a resolution of the monitor-wide dedup key, linking the incident', () => {
    const text = messageTextOf(payload);
    expect(text).toMatchObject({
      title: 'Shop recovered',
      isResolution: true,
      severity: 'info',
      dedupKey: 'reach-monitor-m',
      link: { url: 'https://reach.example/status#incident-i', text: 'Incident i' },
    });
    expect(text.facts.find((fact) => fact.label === 'Seen from')?.value).toBe('this service');
  });

  it('calls a degraded state a warning and a test message information, never a resolution', () => {
    expect(messageTextOf({ ...payload, newState: 'degraded' })).toMatchObject({
      severity: 'warning',
      isResolution: false,
    });
    expect(messageTextOf({ ...payload, event: 'channel.test' })).toMatchObject({
      severity: 'info',
      isResolution: false,
    });
  });
});
