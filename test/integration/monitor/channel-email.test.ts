// The email channel through a real SMTP server on loopback (smtp-server): the message as received, the login,
// and the server's permanent (5xx) and temporary (4xx) refusals.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertPayload } from '../../../src/monitor/alerting/alerts.js';
import {
  type ChannelRecord,
  channelSettingsSchemas,
} from '../../../src/monitor/alerting/channel-settings.js';
import { createChannelSenders } from '../../../src/monitor/alerting/senders.js';
import { loopbackPolicy } from './support.js';

const down: AlertPayload = {
  event: 'monitor.state_changed',
  id: 'payload-mail-1',
  monitor: { id: 'mon-mail', name: 'Shop', url: 'https://shop.example/', tags: [] },
  oldState: 'up',
  newState: 'down',
  changedAt: '2026-11-30T08:00:00.000Z',
  cause: 'local_network',
  code: 'tcp.net_unreachable',
  summary: 'The prober has no route to the network',
  incident: { id: 'inc-mail', url: 'https://reach.example/status#incident-inc-mail' },
  links: { monitor: 'https://reach.example/monitors/mon-mail', status: 'https://reach.example/status' },
};

interface Received {
  from: string | undefined;
  to: string[];
  raw: string;
  user: string | undefined;
}

const servers: SMTPServer[] = [];
const senders = createChannelSenders({ policy: loopbackPolicy, timeoutMs: 3000 });

afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function startSmtp(
  options: Partial<SMTPServerOptions> = {},
): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === 'alerts' && auth.password === 'mail-password-1234')
        callback(null, { user: 'alerts' });
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((recipient) => recipient.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          user: session.user as string | undefined,
        });
        callback();
      });
    },
    ...options,
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  return { port: (server.server.address() as AddressInfo).port, received };
}

function emailChannel(settings: Record<string, unknown>): ChannelRecord {
  return {
    id: '6f1c2a4e-0000-4000-8000-0000000000e1',
    name: 'on-call mail',
    type: 'email',
    settings: channelSettingsSchemas.email.parse(settings),
    createdAt: '2026-11-30T00:00:00.000Z',
    updatedAt: '2026-11-30T00:00:00.000Z',
  };
}

describe('the email channel', () => {
  it('logs in and sends one plain-text message with the alert to every recipient', async () => {
    const smtp = await startSmtp();
    const channel = emailChannel({
      host: '127.0.0.1',
      port: smtp.port,
      security: 'none',
      username: 'alerts',
      password: 'mail-password-1234',
      from: 'reach@example.com',
      to: ['oncall@example.com', 'ops@example.com'],
    });
    expect(await senders.senderFor(channel).send(down)).toEqual({ kind: 'delivered', status: 250 });
    expect(smtp.received).toHaveLength(1);
    const [mail] = smtp.received;
    expect(mail?.user).toBe('alerts');
    expect(mail?.from).toBe('reach@example.com');
    expect(mail?.to).toEqual(['oncall@example.com', 'ops@example.com']);
    expect(mail?.raw).toContain('Subject: Shop is DOWN');
    expect(mail?.raw).toContain('X-Reach-Event: monitor.state_changed');
    for (const fact of [
      'The prober has no route to the network',
      'Cause: local_network',
      'Code: tcp.net_unreachable',
      'Seen from: this service',
      'Since: 2026-11-30T08:00:00.000Z',
      'https://reach.example/status#incident-inc-mail',
    ])
      expect(mail?.raw).toContain(fact);
  });

  it('gives up when the server refuses the login (535), and never reports the password', async () => {
    const smtp = await startSmtp();
    const channel = emailChannel({
      host: '127.0.0.1',
      port: smtp.port,
      security: 'none',
      username: 'alerts',
      password: 'wrong-password-5678',
      from: 'reach@example.com',
      to: ['oncall@example.com'],
    });
    const outcome = await senders.senderFor(channel).send(down);
    expect(outcome).toMatchObject({ kind: 'rejected', reason: expect.stringContaining('535') });
    expect(JSON.stringify(outcome)).not.toContain('wrong-password-5678');
    expect(smtp.received).toHaveLength(0);
  });

  it('retries when the server defers the recipient (451)', async () => {
    const smtp = await startSmtp({
      onRcptTo(_address, _session, callback) {
        callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
      },
    });
    const channel = emailChannel({
      host: '127.0.0.1',
      port: smtp.port,
      security: 'none',
      from: 'reach@example.com',
      to: ['oncall@example.com'],
    });
    expect(await senders.senderFor(channel).send(down)).toMatchObject({ kind: 'retry' });
  });

  it('does not send in the clear when STARTTLS is required and the server does not offer it', async () => {
    const smtp = await startSmtp();
    const channel = emailChannel({
      host: '127.0.0.1',
      port: smtp.port,
      security: 'starttls',
      username: 'alerts',
      password: 'mail-password-1234',
      from: 'reach@example.com',
      to: ['oncall@example.com'],
    });
    // The server refuses STARTTLS for good (500): nothing is sent in the clear, and retrying would not help.
    expect(await senders.senderFor(channel).send(down)).toMatchObject({
      kind: 'rejected',
      reason: expect.stringContaining('STARTTLS'),
    });
    expect(smtp.received).toHaveLength(0);
  });

  it('refuses an SMTP host the address policy refuses, without connecting', async () => {
    const strict = createChannelSenders({ policy: () => 'a private address', timeoutMs: 2000 });
    const channel = emailChannel({
      host: 'localhost',
      port: 25,
      from: 'reach@example.com',
      to: ['a@example.com'],
    });
    try {
      expect(await strict.senderFor(channel).send(down)).toMatchObject({ kind: 'refused' });
    } finally {
      await strict.close();
    }
  });
});
