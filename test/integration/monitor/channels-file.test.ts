// Channels from CHANNELS_FILE through the whole service and a real redis-server: written at start with a stable
// id, shown masked and marked, tested against a loopback receiver, named by monitors, guarded from API edits;
// and a bad file stops `reach serve` with one line and exit 2.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configuredChannelId } from '../../../src/monitor/alerting/channel-file.js';
import type { RunningService } from '../../../src/service.js';
import { cliPath } from '../../support/process.js';
import { type ProviderReceiver, startProviderReceiver } from '../../support/provider-receiver.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import { type SwitchableSite, sendJson, startSwitchableSite, startTestService } from './support.js';

const apiKey = 'channels-file-key-0123456789abcdef';
const adminApiKey = 'channels-file-admin-0123456789abcdef';
const admin = { authorization: `Bearer ${adminApiKey}` };
const keyed = { authorization: `Bearer ${apiKey}` };
const channelId = configuredChannelId('ops-slack');

let dir: string;
let redis: TestRedis;
let site: SwitchableSite;
let slack: ProviderReceiver;
let service: RunningService | undefined;

/** A ${NAME} reference, as the file holds it. */
const ref = (name: string) => `\${${name}}`;

function writeChannels(channels: unknown[]): string {
  const file = path.join(dir, 'channels.json');
  writeFileSync(file, JSON.stringify({ channels }));
  return file;
}

function start(file: string): Promise<RunningService> {
  return startTestService({
    redisUrl: redis.url,
    apiKey,
    adminApiKey,
    monitorEnv: {
      CHANNELS_FILE: file,
      SLACK_WEBHOOK: `${slack.origin}/services/T000/B000/channel-file-secret`,
    },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'reach-channels-file-'));
  redis = await startRedis();
  site = await startSwitchableSite();
  slack = await startProviderReceiver({ status: 200, body: 'ok' });
});

afterAll(async () => {
  await service?.close();
  await slack?.close();
  await site?.close();
  await redis?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('channels from CHANNELS_FILE', () => {
  it('writes them at start, masked and marked, testable, named by monitors, and refuses API edits with 409', async () => {
    const file = writeChannels([
      {
        key: 'ops-slack',
        name: 'Ops on Slack',
        type: 'slack',
        settings: { webhookUrl: ref('SLACK_WEBHOOK') },
      },
    ]);
    service = await start(file);
    const listed = await sendJson('GET', `${service.apiUrl}/channels`, undefined, admin);
    expect(listed.status).toBe(200);
    expect(listed.body.channels).toEqual([
      expect.objectContaining({
        id: channelId,
        name: 'Ops on Slack',
        type: 'slack',
        origin: 'configuration',
        settings: { webhookUrl: `${slack.origin}/****` },
      }),
    ]);
    expect(JSON.stringify(listed.body)).not.toContain('channel-file-secret');
    const createdAt = listed.body.channels[0].createdAt as string;

    const tested = await sendJson('POST', `${service.apiUrl}/channels/${channelId}/test`, undefined, admin);
    expect(tested.body).toEqual({ outcome: 'delivered', status: 200 });
    const received = await slack.nth(1);
    expect(received.path).toBe('/services/T000/B000/channel-file-secret');
    expect((received.json as { text: string }).text).toContain(
      'This is a test of the slack channel "Ops on Slack"',
    );

    const monitor = await sendJson(
      'POST',
      `${service.apiUrl}/monitors`,
      { name: 'Shop', url: site.url, intervalSeconds: 60, channels: [channelId] },
      keyed,
    );
    expect(monitor.status).toBe(201);

    for (const [method, body] of [
      ['PATCH', { name: 'Renamed' }],
      ['DELETE', undefined],
    ] as const) {
      const refused = await sendJson(method, `${service.apiUrl}/channels/${channelId}`, body, admin);
      expect(refused.status).toBe(409);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.body.detail).toMatch(/comes from CHANNELS_FILE/);
    }

    // Started again from the same file: the same id, and the record is kept as it was.
    await service.close();
    service = await start(file);
    const again = await sendJson('GET', `${service.apiUrl}/channels/${channelId}`, undefined, admin);
    expect(again.body).toMatchObject({ id: channelId, origin: 'configuration', createdAt });

    // A file that no longer names it: the channel stays (a monitor names it) and the API may now delete it.
    await service.close();
    service = await start(writeChannels([]));
    const stillUsed = await sendJson('DELETE', `${service.apiUrl}/channels/${channelId}`, undefined, admin);
    expect(stillUsed.status).toBe(409);
    expect(stillUsed.body.monitors).toEqual([monitor.body.id]);
    await sendJson('DELETE', `${service.apiUrl}/monitors/${monitor.body.id}`, undefined, keyed);
    const deleted = await sendJson('DELETE', `${service.apiUrl}/channels/${channelId}`, undefined, admin);
    expect(deleted.status).toBe(204);
  });

  it('stops `reach serve` with one line naming CHANNELS_FILE and exit 2 when the file is wrong', async () => {
    const file = writeChannels([
      {
        key: 'ops-slack',
        name: 'Ops',
        type: 'slack',
        settings: { webhookUrl: ref('SLACK_WEBHOOK_MISSING') },
      },
    ]);
    const child = spawn(process.execPath, [cliPath, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        REDIS_URL: redis.url,
        CHANNELS_FILE: file,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      `reach: invalid configuration: CHANNELS_FILE: channels.0 (ops-slack).settings.webhookUrl: ${ref('SLACK_WEBHOOK_MISSING')} is not set`,
    ]);
  });
});
