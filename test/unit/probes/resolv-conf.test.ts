import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemResolvers } from '../../../src/probes/dns.js';

const dir = mkdtempSync(path.join(tmpdir(), 'reach-resolv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('systemResolvers', () => {
  it('reads the IP nameservers of a resolv.conf, with zone ids dropped and junk ignored', () => {
    const file = path.join(dir, 'resolv.conf');
    writeFileSync(
      file,
      [
        '# comment',
        'search lab.test',
        'nameserver 192.0.2.53',
        'nameserver fe80::1%eth0',
        'nameserver not-an-ip',
        '  nameserver 2001:db8::53',
        '',
      ].join('\n'),
    );
    expect(systemResolvers(file)).toEqual([
      { host: '192.0.2.53', port: 53 },
      { host: 'fe80::1', port: 53 },
      { host: '2001:db8::53', port: 53 },
    ]);
  });

  it('answers no resolvers for a missing file', () => {
    expect(systemResolvers(path.join(dir, 'missing.conf'))).toEqual([]);
  });
});
