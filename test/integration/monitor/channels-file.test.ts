// Channels from CHANNELS_FILE through the whole service and a real redis-server: written at start with a stable
// id, shown masked and marked, tested against a loopback receiver, named by monitors, guarded from API edits;
// delivered to by workers from their own file, with no API process having written them; and a bad file stops
// `reach serve` with one line and exit 2.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { configuredChannelId } from '../../../src/monitor/alerting/channel-file.js';
import { loadMonitorConfig } from '../../../src/monitor/config.js';
import { type RunningService, startService } from '../../../src/service.js';
import { cliPath } from '../../support/process.js';
import { type ProviderReceiver, startProviderReceiver } from '../../support/provider-receiver.js';
import { startRedis, type TestRedis } from '../../support/redis.js';
import {
  type MonitorHarness,
  monitorRecord,
  RunRecorder,
  type SwitchableSite,
  sendJson,
  startMonitorHarness,
  startSwitchableSite,
  startTestService,
} from './support.js';

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

  it('has workers deliver to the channels of their own file, absent from Redis or older there', async () => {
    const workersChannelId = configuredChannelId('workers-slack');
    const file = writeChannels([
      {
        key: 'workers-slack',
        name: 'Ops from the workers',
        type: 'slack',
        settings: { webhookUrl: ref('WORKERS_SLACK') },
      },
    ]);
    slack.reset();
    // The monitor workers alone (no API process, so nothing wrote the file's channels to Redis), as a deployment
    // of workers only runs them, or workers started before the API.
    let harness: MonitorHarness | undefined;
    let recorder: RunRecorder | undefined;
    try {
      harness = await startMonitorHarness({
        redisUrl: redis.url,
        env: { CHANNELS_FILE: file, WORKERS_SLACK: `${slack.origin}/services/T000/B000/current` },
      });
      recorder = new RunRecorder(harness.workers);
      expect(await harness.api.channels.get(workersChannelId)).toBeUndefined();
      const monitorId = 'b3f1c2d4-0000-4000-8000-00000000c0de';
      await harness.workers.store.putMonitor(
        monitorRecord(monitorId, { url: site.url, confirmations: 1, channels: [workersChannelId] }),
      );
      const tick = async () => {
        const runs = recorder?.next(monitorId, 1);
        await harness?.workers.scheduler.runNow(monitorId, 'manual');
        return runs;
      };
      site.mode = 'healthy';
      await tick();
      site.mode = 'failing';
      await tick();
      const down = await slack.nth(1);
      expect(down.path).toBe('/services/T000/B000/current');
      expect((down.json as { text: string }).text).toMatch(/down/i);

      // An older record of the channel in Redis (an API process started from the file before it changed): the
      // workers still send where their own file says.
      await harness.api.channels.put({
        id: workersChannelId,
        name: 'Ops from the workers',
        type: 'slack',
        settings: { webhookUrl: `${slack.origin}/services/T000/B000/revoked` },
        origin: 'configuration',
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
      });
      site.mode = 'healthy';
      await tick();
      const up = await slack.nth(2);
      expect(up.path).toBe('/services/T000/B000/current');
      expect((up.json as { text: string }).text).toMatch(/recovered/);
      expect(slack.requests.map((request) => request.path)).not.toContain('/services/T000/B000/revoked');
    } finally {
      recorder?.stop();
      await harness?.close();
      site.mode = 'healthy';
    }
  });

  it('refuses to start workers alone, as the API, when the file names a destination the policy refuses', async () => {
    const file = writeChannels([
      {
        key: 'inside',
        name: 'Inside',
        type: 'gotify',
        settings: { baseUrl: 'http://10.0.0.7:8080', token: 'AzyoeNS.D4iJLVa' },
      },
    ]);
    const starting = startService({
      config: loadConfig({ REDIS_URL: redis.url, SHUTDOWN_DEADLINE_MS: '5000' }),
      roles: { api: false, worker: true },
      logger: pino({ level: 'silent' }),
      monitorConfig: loadMonitorConfig({ CHANNELS_FILE: file }),
    });
    await expect(starting).rejects.toThrow(ConfigError);
    await expect(starting).rejects.toThrow(
      /^invalid configuration: CHANNELS_FILE: channel inside: its gotify destination 10\.0\.0\.7 is not allowed/,
    );
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
