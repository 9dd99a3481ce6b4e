// Webhook delivery checks the address it connects to, so a webhook name cannot lead inside the network.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebhookDelivery, DeliveryError } from '../../../src/monitor/alerting/alerts.js';

let server: Server;
let port: number;
let connections = 0;
const payload = {
  event: 'monitor.state_changed' as const,
  id: 'payload-1',
  monitor: { id: 'm', name: 'm', url: 'http://192.0.2.1/', tags: [] },
  oldState: 'up',
  newState: 'down',
  changedAt: new Date(0).toISOString(),
  cause: 'server_fault',
  code: 'tcp.refused',
  summary: 'refused',
  incident: null,
  links: { monitor: '/monitors/m', status: '/status' },
};

beforeAll(async () => {
  server = createServer((request, response) => {
    request.resume();
    response.writeHead(204).end();
  });
  server.on('connection', () => {
    connections += 1;
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('webhook delivery and the address policy', () => {
  // "localhost" comes from /etc/hosts: no DNS server is asked.
  it('delivers to a name whose address the policy allows', async () => {
    const delivery = createWebhookDelivery({
      policy: (address) => (address === '127.0.0.1' ? undefined : 'not loopback v4'),
      timeoutMs: 2000,
    });
    try {
      await expect(
        delivery.deliver(`http://localhost:${port}/hook`, 'secret-secret-secret', payload, 'd1'),
      ).resolves.toEqual({ status: 204 });
    } finally {
      await delivery.close();
    }
  });

  it('refuses, without connecting, a name or a literal whose address the policy refuses', async () => {
    const before = connections;
    const delivery = createWebhookDelivery({ policy: () => 'a private address', timeoutMs: 2000 });
    try {
      await expect(
        delivery.deliver(`http://localhost:${port}/hook`, 'secret-secret-secret', payload, 'd2'),
      ).rejects.toThrow(/refused: a private address/);
      await expect(
        delivery.deliver(`http://127.0.0.1:${port}/hook`, 'secret-secret-secret', payload, 'd3'),
      ).rejects.toBeInstanceOf(DeliveryError);
      expect(connections).toBe(before);
    } finally {
      await delivery.close();
    }
  });
});
