// The target address policy of the public prober: what it refuses, what it lets through, and odd spellings.
import { describe, expect, it } from 'vitest';
import { createAddressPolicy, refusalReason } from '../../../src/safety/address-policy.js';
import { checkResolver, checkTargetUrl } from '../../../src/safety/target-check.js';

describe('refusalReason', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['224.0.0.251', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'reserved or documentation'],
    ['198.18.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved or documentation'],
    ['::ffff:127.0.0.1', 'embeds 127.0.0.1 is a loopback'],
    ['::ffff:a9fe:a9fe', 'embeds 169.254.169.254 is a link-local'],
    ['::ffff:10.0.0.1', 'embeds 10.0.0.1 is a private'],
    ['64:ff9b::7f00:1', 'embeds 127.0.0.1'],
    ['2002:7f00:1::', 'embeds 127.0.0.1'],
    ['::7f00:1', 'IPv4-compatible'],
    ['2001::1', 'Teredo'],
  ])('refuses %s as %s', (address, words) => {
    expect(refusalReason(address)).toContain(words);
  });

  it.each([
    ['2130706433', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['017700000001', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['0xa9.0xfe.0xa9.0xfe', '169.254.169.254'],
  ])('refuses the odd spelling %s of %s', (address, canonical) => {
    expect(refusalReason(address)).toContain(canonical);
  });

  it.each([
    '93.184.216.34',
    '8.8.8.9',
    '1.2.3.4',
    '2606:4700:4700::1111',
    '::ffff:8.8.8.9',
    '2a00:1450:4001::1',
  ])('allows the global unicast address %s', (address) => {
    expect(refusalReason(address)).toBeUndefined();
  });

  it('refuses text that is not an IP address', () => {
    expect(refusalReason('localhost')).toContain('not an IP address');
  });
});

describe('createAddressPolicy', () => {
  it('allows private addresses only when asked to', () => {
    expect(createAddressPolicy({ isPrivateAllowed: false })('127.0.0.1')).toBeDefined();
    expect(createAddressPolicy({ isPrivateAllowed: true })('127.0.0.1')).toBeUndefined();
  });
});

describe('checkTargetUrl', () => {
  const policy = createAddressPolicy({ isPrivateAllowed: false });

  it.each([
    'http://127.0.0.1/',
    'http://2130706433/',
    'http://0x7f.0.0.1:8080/',
    'http://0177.0.0.1/',
    'http://127.1/',
    'https://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:a9fe:a9fe]/latest/meta-data/',
    'http://169.254.169.254/latest/meta-data/',
    'http://localhost:8080/',
    'http://api.localhost/',
    'http://LOCALHOST./',
  ])('refuses %s before queueing', (url) => {
    expect(checkTargetUrl(url, policy, 'url')).toMatchObject({ field: 'url' });
  });

  it('leaves names to the check at connect time', () => {
    expect(checkTargetUrl('http://example.test/', policy, 'url')).toBeUndefined();
  });

  it('allows a global IP literal', () => {
    expect(checkTargetUrl('http://93.184.216.34/', policy, 'url')).toBeUndefined();
  });
});

describe('checkResolver', () => {
  const policy = createAddressPolicy({ isPrivateAllowed: false });

  it.each(['127.0.0.53', '127.0.0.1:5353', '[::1]:53', '169.254.169.254'])(
    'refuses the resolver %s',
    (resolver) => {
      expect(checkResolver(resolver, policy, 'resolvers.0')).toMatchObject({ field: 'resolvers.0' });
    },
  );

  it('allows a public resolver', () => {
    expect(checkResolver('9.9.9.10:53', policy, 'resolvers.0')).toBeUndefined();
  });
});
