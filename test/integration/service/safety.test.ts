// SSRF defences of the public prober: IP literals in any spelling, names resolving inward, rebinding, redirects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../support/redis.js';
import {
  getJson,
  type LoopbackTarget,
  postJson,
  startDnsServer,
  startTarget,
  startTestService,
  type TestDnsServer,
} from './support.js';

let redis: TestRedis;
let dns: TestDnsServer;
let target: LoopbackTarget;
let trap: LoopbackTarget;
let redirector: LoopbackTarget;
/** Default policy: only global unicast addresses. Its default resolver is the test's DNS server. */
let strict: Awaited<ReturnType<typeof startTestService>>;
/** A policy standing in for "public" = 127.0.0.1 and "internal" = every other address, 127.0.0.2 included. */
let loopbackAsPublic: Awaited<ReturnType<typeof startTestService>>;

beforeAll(async () => {
  redis = await startRedis();
  dns = await startDnsServer('127.0.0.1');
  target = await startTarget();
  // The internal host listens on the same port as the target, on 127.0.0.2: a rebinding answer points there.
  trap = await startTarget(undefined, '127.0.0.2', target.port);
  redirector = await startTarget((_request, response) => {
    response.writeHead(302, { location: `http://127.0.0.2:${target.port}/admin` }).end();
  });
  strict = await startTestService({
    redisUrl: redis.url,
    env: { QUEUE_NAME: 'safety-strict', PROBE_RESOLVERS: dns.resolver },
  });
  loopbackAsPublic = await startTestService({
    redisUrl: redis.url,
    env: { QUEUE_NAME: 'safety-loopback' },
    policy: (address) => (address === '127.0.0.1' ? undefined : `${address} is internal (test policy)`),
  });
});

afterAll(async () => {
  await strict?.close();
  await loopbackAsPublic?.close();
  await Promise.all([target?.close(), trap?.close(), redirector?.close(), dns?.close()]);
  await redis?.dispose();
});

describe('with the default policy', () => {
  it.each([
    ['loopback', (port: number) => `http://127.0.0.1:${port}/`],
    ['decimal', (port: number) => `http://2130706433:${port}/`],
    ['hex', (port: number) => `http://0x7f.0x0.0x0.0x1:${port}/`],
    ['octal', (port: number) => `http://0177.0.0.1:${port}/`],
    ['short', (port: number) => `http://127.1:${port}/`],
    ['IPv4-mapped IPv6', (port: number) => `http://[::ffff:127.0.0.1]:${port}/`],
    ['IPv6 loopback', (port: number) => `http://[::1]:${port}/`],
    ['localhost', (port: number) => `http://localhost:${port}/`],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/'],
    ['private', () => 'http://10.0.0.1/'],
    ['carrier-grade NAT', () => 'http://100.64.0.1/'],
  ])('refuses a %s target with a 422 problem before queueing it', async (_kind, urlFor) => {
    const before = target.connectionCount();
    const response = await postJson(`${strict.apiUrl}/probe?wait=10`, { url: urlFor(target.port) });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({
      type: 'urn:reach:problem:target-refused',
      status: 422,
      field: 'url',
    });
    expect(response.body.id).toBeUndefined();
    expect(target.connectionCount()).toBe(before);
  });

  it('refuses a private control URL and a private resolver, naming the field', async () => {
    const control = await postJson(`${strict.apiUrl}/probe`, {
      url: 'http://example.test/',
      controls: ['http://93.184.216.34/', 'http://192.168.0.1/'],
    });
    expect(control.status).toBe(422);
    expect(control.body.field).toBe('controls.1');
    const resolver = await postJson(`${strict.apiUrl}/probe`, {
      url: 'http://example.test/',
      resolvers: ['127.0.0.53'],
    });
    expect(resolver.status).toBe(422);
    expect(resolver.body.field).toBe('resolvers.0');
  });

  it('refuses a name that resolves to loopback at connect time: 422 in wait mode, failed on GET', async () => {
    dns.setAnswer('127.0.0.1');
    const before = target.connectionCount();
    const response = await postJson(`${strict.apiUrl}/probe?wait=30`, {
      url: `http://inward.example:${target.port}/`,
    });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ type: 'urn:reach:problem:target-refused', address: '127.0.0.1' });
    expect(target.connectionCount()).toBe(before);
    const status = await getJson(`${strict.apiUrl}/probe/${response.body.id}`);
    expect(status.body).toMatchObject({ status: 'failed', error: { kind: 'refused', address: '127.0.0.1' } });
  });
});

describe('with a policy where only 127.0.0.1 is public', () => {
  it('refuses a name rebound to an internal address after an allowed answer', async () => {
    dns.setAnswer('127.0.0.1');
    const url = `http://rebind.example:${target.port}/`;
    const first = await postJson(`${loopbackAsPublic.apiUrl}/probe?wait=30`, {
      url,
      resolvers: [dns.resolver],
    });
    expect(first.status).toBe(200);
    expect(first.body.report.verdict.cause).toBe('ok');

    dns.setAnswer('127.0.0.2');
    const second = await postJson(`${loopbackAsPublic.apiUrl}/probe?wait=30`, {
      url,
      resolvers: [dns.resolver],
    });
    expect(second.status).toBe(422);
    expect(second.body).toMatchObject({ type: 'urn:reach:problem:target-refused', address: '127.0.0.2' });
    expect(trap.connectionCount()).toBe(0);
  });

  it('refuses a redirect to an internal address without connecting to it', async () => {
    const response = await postJson(`${loopbackAsPublic.apiUrl}/probe?wait=30`, { url: redirector.url });
    expect(response.status).toBe(422);
    expect(response.body).toMatchObject({ type: 'urn:reach:problem:target-refused', address: '127.0.0.2' });
    expect(trap.connectionCount()).toBe(0);
    const status = await getJson(`${loopbackAsPublic.apiUrl}/probe/${response.body.id}`);
    expect(status.body).toMatchObject({ status: 'failed', error: { kind: 'refused', address: '127.0.0.2' } });
  });
});
