// CHANNELS_FILE: the file read and checked with the API's schema, ${NAME} secrets from the environment, stable
// ids, and one line naming the variable for every way the file can be wrong.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/config.js';
import { configuredChannelId } from '../../../../src/monitor/alerting/channel-file.js';
import { loadMonitorConfig } from '../../../../src/monitor/config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'reach-channels-file-'));
let count = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileWith(content: unknown): string {
  count += 1;
  const file = path.join(dir, `channels-${count}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

function loadError(content: unknown, env: Record<string, string> = {}): string {
  try {
    loadMonitorConfig({ CHANNELS_FILE: fileWith(content), ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the file was accepted');
}

/** A ${NAME} reference, as the file holds it. */
const ref = (name: string) => `\${${name}}`;

const slack = {
  key: 'ops-slack',
  name: 'Ops',
  type: 'slack',
  settings: { webhookUrl: ref('SLACK_WEBHOOK') },
};

describe('CHANNELS_FILE', () => {
  it('reads channels with secrets from the environment and ids that depend on the key alone', () => {
    const file = fileWith({
      channels: [
        slack,
        {
          key: 'mail',
          name: 'On-call mail',
          type: 'email',
          settings: {
            host: 'smtp.example.test',
            password: `pre-${ref('SMTP_PASSWORD')}-post`,
            from: 'a@example.test',
            to: ['b@example.test'],
          },
        },
      ],
    });
    const config = loadMonitorConfig({
      CHANNELS_FILE: file,
      SLACK_WEBHOOK: 'https://hooks.slack.com/services/T0/B0/secret',
      SMTP_PASSWORD: 'hunter2',
    });
    expect(config.alerts.configuredChannels).toEqual([
      {
        key: 'ops-slack',
        id: configuredChannelId('ops-slack'),
        name: 'Ops',
        type: 'slack',
        settings: { webhookUrl: 'https://hooks.slack.com/services/T0/B0/secret' },
      },
      {
        key: 'mail',
        id: configuredChannelId('mail'),
        name: 'On-call mail',
        type: 'email',
        // The API schema's defaults apply, as for POST /channels.
        settings: {
          host: 'smtp.example.test',
          port: 587,
          security: 'starttls',
          password: 'pre-hunter2-post',
          from: 'a@example.test',
          to: ['b@example.test'],
        },
      },
    ]);
    expect(configuredChannelId('ops-slack')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(configuredChannelId('ops-slack')).toBe(configuredChannelId('ops-slack'));
    expect(configuredChannelId('mail')).not.toBe(configuredChannelId('ops-slack'));
    expect(loadMonitorConfig({}).alerts.configuredChannels).toEqual([]);
  });

  it('names the variable and the problem in one line, never the secret', () => {
    const cases: Array<[unknown, Record<string, string>, RegExp]> = [
      [
        { channels: [slack] },
        {},
        /^invalid configuration: CHANNELS_FILE: channels\.0 \(ops-slack\)\.settings\.webhookUrl: \$\{SLACK_WEBHOOK\} is not set$/,
      ],
      ['{"channels": [', {}, /CHANNELS_FILE: .*channels-\d+\.json is not JSON$/],
      [{ list: [] }, {}, /CHANNELS_FILE: .* must be an object with a "channels" array$/],
      [
        { channels: [{ ...slack, key: 'Ops Slack' }] },
        {},
        /CHANNELS_FILE: channels\.0\.key must be 1-64 lowercase/,
      ],
      [
        { channels: [slack, { ...slack, name: 'Again' }] },
        { SLACK_WEBHOOK: 'https://hooks.example/x' },
        /channels\.1 \(ops-slack\): the key is used twice$/,
      ],
      [
        { channels: [{ ...slack, type: 'carrier-pigeon' }] },
        { SLACK_WEBHOOK: 'https://hooks.example/x' },
        /channels\.0 \(ops-slack\)\.type: /,
      ],
      [
        { channels: [{ ...slack, settings: { webhookUrl: `not a url ${ref('TOKEN')}` } }] },
        { TOKEN: 'sk-live-secret-value' },
        /channels\.0 \(ops-slack\)\.settings\.webhookUrl: expected an absolute http/,
      ],
    ];
    for (const [content, env, pattern] of cases) {
      const message = loadError(content, env);
      expect(message, JSON.stringify(content)).toMatch(pattern);
      expect(message).not.toContain('\n');
      expect(message).not.toContain('sk-live-secret-value');
    }
    expect(() => loadMonitorConfig({ CHANNELS_FILE: path.join(dir, 'missing.json') })).toThrow(
      /CHANNELS_FILE: cannot read .*missing\.json: ENOENT/,
    );
  });
});
