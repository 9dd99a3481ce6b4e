// Content checks through the engine against real loopback servers: status, body texts, JSON values, time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, type ProbeOptions, probe } from '../../src/engine.js';
import type { Report } from '../../src/types.js';
import { startHttpServer, type TestServer } from '../support/http-servers.js';

let site: TestServer;

beforeAll(async () => {
  site = await startHttpServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (path === '/health') json(200, { status: 'ok', checks: { db: 'up' }, items: [1, 2, 3] });
    else if (path === '/degraded') json(200, { status: 'degraded', checks: { db: 'down' } });
    else if (path === '/html')
      response.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Maintenance</h1>');
    else if (path === '/error-page') response.writeHead(200).end('<p>Fatal error: database gone</p>');
    else if (path === '/missing') response.writeHead(404).end('not here');
    else if (path === '/login') response.writeHead(401, { 'www-authenticate': 'Basic' }).end('who?');
    else if (path === '/slow') setTimeout(() => response.writeHead(200).end('late but fine'), 400);
    else if (path === '/long') response.writeHead(200).end(`${'x'.repeat(4000)}\u0007\n"quoted" Welcome`);
    else if (path === '/moved') response.writeHead(302, { location: '/health' }).end();
    else response.writeHead(200).end('hello');
  });
});

afterAll(async () => {
  await site.close();
});

function run(
  path: string,
  expect: ProbeOptions['expect'],
  extra: Partial<ProbeOptions> = {},
): Promise<Report> {
  return probe({ url: `http://127.0.0.1:${site.port}${path}`, timeoutMs: 5000, expect, ...extra });
}

describe('content checks in the engine', () => {
  it('passes a JSON health endpoint that meets every check, and says so in the content observation', async () => {
    const report = await run('/health', {
      statuses: ['200-299'],
      bodyContains: ['"ok"'],
      bodyNotContains: ['error'],
      json: [
        { path: '$.status', equals: 'ok' },
        { path: "$.checks['db']", equals: 'up' },
        { path: '$.items[-1]', equals: 3 },
        { path: '$.items', equals: [1, 2, 3] },
      ],
      maxResponseMs: 60_000,
    });
    expect(report.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    expect(report.target.content?.checks.map((check) => check.isMet)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(report.target.content?.bodyBytesRead).toBeGreaterThan(0);
  });

  it('follows redirects and judges the final answer', async () => {
    const report = await run('/moved', { statuses: [200], json: [{ path: '$.status', equals: 'ok' }] });
    expect(report.verdict.code).toBe('http.ok');
    expect(report.target.content?.url).toMatch(/\/health$/);
  });

  it('names a status the monitor does not accept content.status_unexpected, with both sides', async () => {
    const report = await run('/missing', { statuses: ['200-299', 301] });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'content.status_unexpected' });
    expect(report.verdict.evidence).toContain('content: FAILED: expected status 200-299, 301; status 404');
    expect(report.verdict.summary).toContain(
      'fails a content check: expected status 200-299, 301; status 404',
    );
  });

  it('accepts a 401 the monitor lists, where the status rules would call it auth_required', async () => {
    const accepted = await run('/login', { statuses: [401] });
    expect(accepted.verdict).toMatchObject({ cause: 'ok', code: 'http.ok' });
    const plain = await run('/login', undefined);
    expect(plain.verdict.code).toBe('http.auth_required');
  });

  it('names a missing text content.body_missing and quotes how the body begins', async () => {
    const report = await run('/html', { bodyContains: ['Welcome'] });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'content.body_missing' });
    expect(report.verdict.evidence).toContain(
      'content: FAILED: expected body contains "Welcome"; not in the body (20 bytes), which begins "<h1>Maintenance</h1>"',
    );
  });

  it('names a forbidden text content.body_forbidden and quotes where it was found', async () => {
    const report = await run('/error-page', { bodyNotContains: ['Fatal error'] });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'content.body_forbidden' });
    expect(report.verdict.evidence.join('\n')).toContain(
      'found at character 3: "<p>Fatal error: database gone</p>"',
    );
  });

  it('names a JSON value that differs content.json_mismatch with the value that came back', async () => {
    const report = await run('/degraded', {
      json: [
        { path: '$.status', equals: 'ok' },
        { path: '$.checks.cache', equals: 'up' },
      ],
    });
    expect(report.verdict).toMatchObject({ cause: 'server_fault', code: 'content.json_mismatch' });
    expect(report.verdict.evidence).toContain(
      'content: FAILED: expected JSON $.status equals "ok"; $.status is "degraded"',
    );
    expect(report.verdict.evidence.join('\n')).toContain('no value: $["checks"]["cache"] is absent');
    expect(report.verdict.summary).toContain('(and 1 more check failed)');
  });

  it('names a body that is not JSON content.json_mismatch without quoting the parser', async () => {
    const report = await run('/html', { json: [{ path: '$.status', equals: 'ok' }] });
    expect(report.verdict.code).toBe('content.json_mismatch');
    expect(report.verdict.evidence.join('\n')).toContain('the body (20 bytes) is not JSON; it begins "<h1>');
  });

  it('names an answer later than maxResponseMs content.too_slow, an overload', async () => {
    const report = await run('/slow', { maxResponseMs: 50 });
    expect(report.verdict).toMatchObject({ cause: 'overload', code: 'content.too_slow' });
    const check = report.target.content?.checks[0];
    expect(check).toMatchObject({ kind: 'response_time', isMet: false, expected: 'response within 50 ms' });
    expect(report.target.content?.responseMs).toBeGreaterThanOrEqual(400);
  });

  it('reads the body only up to maxBodyBytes and says a text beyond it was not found there', async () => {
    const report = await run('/long', { bodyContains: ['Welcome'] }, { maxBodyBytes: 1024 });
    expect(report.verdict.code).toBe('content.body_missing');
    expect(report.target.content).toMatchObject({ bodyBytesRead: 1024, isBodyTruncated: true });
    expect(report.verdict.evidence.join('\n')).toContain(
      'the first 1024 bytes of the body (the rest was not read)',
    );
    const whole = await run('/long', { bodyContains: ['Welcome'] });
    expect(whole.verdict.code).toBe('http.ok');
  });

  it('judges a JSON body of exactly maxBodyBytes as whole, not cut at the limit', async () => {
    const size = JSON.stringify({ status: 'ok', checks: { db: 'up' }, items: [1, 2, 3] }).length;
    const report = await run(
      '/health',
      { json: [{ path: '$.status', equals: 'ok' }] },
      { maxBodyBytes: size },
    );
    expect(report.verdict.code).toBe('http.ok');
    expect(report.target.content).toMatchObject({ bodyBytesRead: size, isBodyTruncated: false });
  });

  it('quotes what came back in one short, escaped line', async () => {
    const report = await run('/long', { bodyContains: ['absent'] });
    const line = report.verdict.evidence.find((text) => text.includes('FAILED')) ?? '';
    expect(line).not.toContain('\n');
    expect(line).toContain(`"${'x'.repeat(120)}…"`);
    expect(line.length).toBeLessThan(400);
  });

  it('keeps no content observation, and no body, when nothing is expected', async () => {
    const report = await run('/health', undefined);
    expect(report.target.content).toBeUndefined();
    expect(JSON.stringify(report)).not.toContain('"items"');
  });

  it('refuses a JSON path outside the supported subset before probing', async () => {
    await expect(run('/health', { json: [{ path: '$..status', equals: 'ok' }] })).rejects.toThrow(InputError);
    await expect(run('/health', { statuses: ['299-200'] })).rejects.toThrow(/expect\.statuses\.0/);
  });
});
