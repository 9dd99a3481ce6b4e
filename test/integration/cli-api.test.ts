// `reach probe --api` and `reach vantages --api` as processes against a real service: an API that is the vantage
// `local` and a second vantage `isp-b` whose resolver sends the site's name to a filtering middlebox, on one
// redis-server, with an API key.
// Site names end in .internal: on loopback every address is private, which for a public name would itself be
// evidence of a lying resolver (a local name's private answers are expected).
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeClosedPort } from '../support/http-servers.js';
import { type CliResult, cliPath } from '../support/process.js';
import { startTwoVantages, type TwoVantages } from './service/support.js';

const apiKey = 'cli-test-key-0123456789';
let lab: TwoVantages;
let site: TwoVantages['site'];
let api: TwoVantages['api'];

/** The CLI with REACH_API_KEY set (or removed when `key` is null). */
function runCli(args: string[], key: string | null = apiKey): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  if (key === null) delete env.REACH_API_KEY;
  else env.REACH_API_KEY = key;
  return new Promise((resolve) => {
    execFile(process.execPath, [cliPath, ...args], { timeout: 60_000, env }, (error, stdout, stderr) => {
      const code = error && typeof error.code === 'number' ? error.code : error ? null : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  lab = await startTwoVantages({
    queueName: 'clitest',
    resetNames: ['www.news.internal'],
    honest: { 'www.news.internal': '127.0.0.1' },
    filtered: { 'www.news.internal': '127.0.0.2' },
    env: { API_KEYS: apiKey },
  });
  ({ site, api } = lab);
});

afterAll(async () => {
  await lab?.close();
});

describe('reach probe --api', () => {
  const url = () => `http://www.news.internal:${site.port}/`;

  it('prints one column per vantage and the compared verdict below, and exits 1 for a localized filter', async () => {
    const result = await runCli([
      'probe',
      url(),
      '--api',
      api.apiUrl,
      '--vantages',
      'all',
      '--timeout',
      '3000',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(1);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^vantage\s+isp-b\s+local$/);
    expect(result.stdout).toMatch(/^status\s+completed\s+completed$/m);
    expect(result.stdout).toMatch(/^verdict\s+filtered_path filter\.keyword_reset\s+ok http\.ok$/m);
    expect(result.stdout).toMatch(/^dns\s+127\.0\.0\.2\s+127\.0\.0\.1$/m);
    expect(result.stdout).toMatch(/^http\s+reset \(ECONNRESET\) after the request\s+200$/m);
    expect(result.stdout).toMatch(
      /^FILTERED_PATH filter\.keyword_reset \(confidence 0\.\d\d\): Reachable from local; from isp-b/m,
    );
  });

  it('prints the service report as JSON with --json, vantages named as a list', async () => {
    const result = await runCli([
      'probe',
      url(),
      '--api',
      `${api.apiUrl}/`,
      '--vantages',
      'local,isp-b',
      '--timeout',
      '3000',
      '--json',
    ]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.vantages.map((vantage: { name: string }) => vantage.name).sort()).toEqual([
      'isp-b',
      'local',
    ]);
    expect(report.verdict).toMatchObject({ cause: 'filtered_path', rule: 'localized' });
  });

  it('prints the single report as a local probe does, and exits 0, without --vantages', async () => {
    const result = await runCli(['probe', url(), '--api', api.apiUrl, '--resolver', lab.honestResolver]);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toMatch(
      /^OK http\.ok \(confidence 0\.\d\d\): The site is reachable/,
    );
    expect(result.stdout).toMatch(/^http\s+[\d.]+ ms\s+GET http:\/\/www\.news\.internal/m);
  });

  it('exits 2 with the problem detail in one line for a vantage that is not live', async () => {
    const result = await runCli(['probe', url(), '--api', api.apiUrl, '--vantages', 'local,nowhere']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^reach: the service answered 422: .*nowhere.*\n$/);
  });

  it('exits 2 naming the key problem when REACH_API_KEY is wrong or missing', async () => {
    const wrong = await runCli(['probe', url(), '--api', api.apiUrl], 'not-the-key');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toBe('reach: the service answered 401: the API key is not valid\n');
    const missing = await runCli(['vantages', '--api', api.apiUrl], null);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('reach: the service answered 401: send Authorization: Bearer <API key>\n');
  });

  it('exits 3 with one line when the service cannot be reached', async () => {
    const port = await freeClosedPort();
    const result = await runCli(['probe', url(), '--api', `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(`reach: cannot reach the service at http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });

  it.each([
    [['probe', 'http://www.news.internal/', '--vantages', 'all'], /--vantages needs --api URL/],
    [['probe', 'http://www.news.internal/', '--api', 'ftp://127.0.0.1/'], /--api must be an http/],
    [['probe', 'http://www.news.internal/', '--api', 'not a url'], /--api must be an http/],
    [
      ['probe', 'http://www.news.internal/', '--api', 'http://127.0.0.1:1', '--vantages', 'a,,b'],
      /--vantages takes/,
    ],
    [['probe', 'http://www.news.internal/', '--api', 'http://127.0.0.1:1', '--ca', 'x.pem'], /--ca applies/],
    [['vantages', '--api', 'http://127.0.0.1:1', '--everything'], /Unknown option '--everything'/],
    [['vantages'], /vantages needs --api URL/],
  ])('exits 2 with one line for bad usage: %j', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe('reach vantages --api', () => {
  it('lists the live vantages with their labels and when each was last seen', async () => {
    const result = await runCli(['vantages', '--api', api.apiUrl]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^name\s+labels\s+last seen$/);
    expect(lines[1]).toMatch(/^isp-b\s+network=isp-b,region=test\s+\d+ s ago \(\d{4}-\d\d-\d\dT/);
    expect(lines[2]).toMatch(/^local\s+network=honest\s+\d+ s ago/);
    const json = await runCli(['vantages', '--api', api.apiUrl, '--json']);
    expect(JSON.parse(json.stdout).vantages.map((vantage: { name: string }) => vantage.name)).toEqual([
      'isp-b',
      'local',
    ]);
  });
});
