// Monitoring wired into the real service: the status endpoints are public, /monitors needs an API key.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../../src/service.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { type SwitchableSite, sendJson, startSwitchableSite, startTestService } from './support.js';

const apiKey = 'monitor-test-key-0123456789abcdef';
const adminApiKey = 'monitor-admin-key-0123456789abcdef';
let redis: TestRedis;
let site: SwitchableSite;
let service: RunningService;

beforeAll(async () => {
  redis = await startRedis();
  site = await startSwitchableSite();
  // Computed afresh on every request, so the page reflects the monitor created a moment before.
  service = await startTestService({
    redisUrl: redis.url,
    apiKey,
    adminApiKey,
    monitorEnv: { STATUS_CACHE_SECONDS: '0' },
  });
});

afterAll(async () => {
  await service?.close();
  await site?.close();
  await redis?.dispose();
});

describe('monitoring in reach serve', () => {
  it('serves /status and /status.json without a key while API_KEYS is set', async () => {
    const json = await sendJson('GET', `${service.apiUrl}/status.json`);
    expect(json.status).toBe(200);
    expect(json.body.status.indicator).toBe('none');
    const page = await fetch(`${service.apiUrl}/status`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('asks for the key on /monitors and accepts a monitor with it', async () => {
    const refused = await sendJson('POST', `${service.apiUrl}/monitors`, {
      name: 'Site',
      url: site.url,
      intervalSeconds: 60,
    });
    expect(refused.status).toBe(401);
    expect(refused.body.type).toBe('urn:reach:problem:unauthorized');
    const created = await sendJson(
      'POST',
      `${service.apiUrl}/monitors`,
      { name: 'Site', url: site.url, intervalSeconds: 60 },
      { authorization: `Bearer ${apiKey}` },
    );
    expect(created.status).toBe(201);
    const listed = await sendJson('GET', `${service.apiUrl}/monitors`, undefined, {
      authorization: `Bearer ${apiKey}`,
    });
    expect(listed.body.monitors.map((monitor: { id: string }) => monitor.id)).toEqual([created.body.id]);
    const json = await sendJson('GET', `${service.apiUrl}/status.json`);
    expect(json.body.components.map((component: { name: string }) => component.name)).toEqual(['Site']);
  });

  it('asks for the admin key on /channels: the API key is not enough', async () => {
    const body = {
      name: 'ops',
      type: 'ntfy',
      settings: { baseUrl: 'https://ntfy.example', topic: 'reach-ops-alerts', token: 'tk_0123456789abcdef' },
    };
    const withApiKey = await sendJson('POST', `${service.apiUrl}/channels`, body, {
      authorization: `Bearer ${apiKey}`,
    });
    expect(withApiKey.status).toBe(401);
    const created = await sendJson('POST', `${service.apiUrl}/channels`, body, {
      authorization: `Bearer ${adminApiKey}`,
    });
    expect(created.status).toBe(201);
    expect(created.body.settings).toEqual({
      baseUrl: 'https://ntfy.example',
      topic: '****erts',
      token: '****cdef',
    });
    const document = await sendJson('GET', `${service.apiUrl}/openapi.json`, undefined, {
      authorization: `Bearer ${apiKey}`,
    });
    expect(Object.keys(document.body.paths)).toEqual(
      expect.arrayContaining(['/channels', '/channels/{id}', '/channels/{id}/test']),
    );
  });
});
