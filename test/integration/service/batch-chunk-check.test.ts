// A chunk's URL jobs checked once with their chunk: the runner does not check such a job again, and answers the
// jobs that did not pass exactly as it always has. Probes go to a closed port on loopback (refused at once).
import { beforeAll, describe, expect, it } from 'vitest';
import type { ProbeJobData } from '../../../src/requests/probe-job.js';
import type { AddressPolicy } from '../../../src/safety/address-policy.js';
import { createProbeRunner, markCheckedChunk } from '../../../src/worker/processor.js';
import { freeClosedPort } from '../../support/http-servers.js';

const defaults = { resolvers: [], controls: [], timeoutMs: 2000, maxRedirects: 5, maxBodyBytes: 65_536 };
const batchId = '5b3c8a52-5c7f-4d8e-9d43-5f0b1c2a7e11';

/** Allows 127.0.0.1 only, and counts what it is asked about. */
function countingPolicy() {
  const asked: string[] = [];
  const policy: AddressPolicy = (address) => {
    asked.push(address);
    return address === '127.0.0.1' ? undefined : 'not the test’s loopback address';
  };
  return { policy, asked };
}

/** Jobs as a chunk builds them: the same options and batch, one URL each. */
function chunkJobs(urls: string[], options: Partial<ProbeJobData> = {}): ProbeJobData[] {
  return urls.map((url, position) => ({
    url,
    timeoutMs: 2000,
    ...options,
    batch: { id: batchId, index: position },
  }));
}

let closedUrl: string;
beforeAll(async () => {
  closedUrl = `http://127.0.0.1:${await freeClosedPort()}/`;
});

describe('a chunk’s jobs checked with their chunk', () => {
  it('are not checked again by the runner under the same policy; a copy of one, unmarked, is', async () => {
    const { policy, asked } = countingPolicy();
    const runner = createProbeRunner({ defaults, isAddressAllowed: policy });
    const jobs = chunkJobs([closedUrl, `${closedUrl}a`, `${closedUrl}b`]);
    markCheckedChunk(jobs, policy);
    const marked = jobs[2] as ProbeJobData;

    asked.length = 0;
    const markedResult = await runner(marked);
    const askedForMarked = asked.length;
    asked.length = 0;
    const copyResult = await runner({ ...marked });
    const askedForCopy = asked.length;

    expect(markedResult.outcome).toBe('report');
    expect(copyResult.outcome).toBe('report');
    // The full check asks the policy about the URL's address once more than the engine's own connect does.
    expect(askedForCopy - askedForMarked).toBe(1);
  });

  it('leaves a refused or malformed URL to the runner, which answers it as before', async () => {
    const { policy } = countingPolicy();
    const runner = createProbeRunner({ defaults, isAddressAllowed: policy });
    const jobs = chunkJobs([closedUrl, 'http://192.0.2.7/', 'ftp://127.0.0.1/', closedUrl]);
    markCheckedChunk(jobs, policy);

    expect(await runner(jobs[1] as ProbeJobData)).toMatchObject({
      outcome: 'refused',
      field: 'url',
      address: '192.0.2.7',
    });
    expect(await runner(jobs[2] as ProbeJobData)).toMatchObject({ outcome: 'invalid', field: 'url' });
    expect((await runner(jobs[3] as ProbeJobData)).outcome).toBe('report');
  });

  it('vouches for the options with the first job that passes whole, even after a bad first URL', async () => {
    const { policy, asked } = countingPolicy();
    const runner = createProbeRunner({ defaults, isAddressAllowed: policy });
    const jobs = chunkJobs(['not a url', closedUrl, `${closedUrl}c`]);
    markCheckedChunk(jobs, policy);

    expect(await runner(jobs[0] as ProbeJobData)).toMatchObject({ outcome: 'invalid', field: 'url' });
    asked.length = 0;
    await runner(jobs[2] as ProbeJobData);
    const askedForMarked = asked.length;
    asked.length = 0;
    await runner({ ...(jobs[2] as ProbeJobData) });
    expect(asked.length - askedForMarked).toBe(1);
  });

  it('marks none when the shared options are bad: each job gets the full check’s answer', async () => {
    const { policy } = countingPolicy();
    const runner = createProbeRunner({ defaults, isAddressAllowed: policy });
    const jobs = chunkJobs([closedUrl, `${closedUrl}d`], { timeoutMs: 5 });
    markCheckedChunk(jobs, policy);
    for (const job of jobs)
      expect(await runner(job)).toMatchObject({ outcome: 'invalid', field: 'timeoutMs' });
  });

  it('checks a job in full when the runner’s policy is not the one it was marked under', async () => {
    const lenient = countingPolicy();
    const strict: AddressPolicy = () => 'refused by the stricter policy';
    const jobs = chunkJobs([closedUrl, `${closedUrl}e`]);
    markCheckedChunk(jobs, lenient.policy);
    const runner = createProbeRunner({ defaults, isAddressAllowed: strict });
    expect(await runner(jobs[1] as ProbeJobData)).toMatchObject({
      outcome: 'refused',
      reason: expect.stringContaining('refused by the stricter policy'),
    });
  });

  it('checks in full a job whose options are not the chunk’s: other controls, or a field the others lack', async () => {
    const { policy } = countingPolicy();
    const runner = createProbeRunner({ defaults, isAddressAllowed: policy });
    const jobs = chunkJobs([closedUrl, `${closedUrl}f`, `${closedUrl}g`]);
    jobs[1] = { ...(jobs[1] as ProbeJobData), controls: ['http://192.0.2.9/'] };
    jobs[2] = { ...(jobs[2] as ProbeJobData), unexpected: true } as ProbeJobData;
    markCheckedChunk(jobs, policy);

    expect(await runner(jobs[1] as ProbeJobData)).toMatchObject({
      outcome: 'refused',
      field: 'controls.0',
      address: '192.0.2.9',
    });
    expect(await runner(jobs[2] as ProbeJobData)).toMatchObject({ outcome: 'invalid' });
  });
});
