// The one reading of a resolver as text, shared by the settings, the request schemas and the address checks.
import { describe, expect, it } from 'vitest';
import { isResolverText, parseResolverText, readResolverText } from '../../src/resolver-text.js';

describe('readResolverText', () => {
  it.each([
    ['198.51.100.53', { host: '198.51.100.53', port: 53 }],
    ['198.51.100.53:5353', { host: '198.51.100.53', port: 5353 }],
    ['2620:fe::fe', { host: '2620:fe::fe', port: 53 }],
    ['[2620:fe::fe]', { host: '2620:fe::fe', port: 53 }],
    ['[2620:fe::fe]:853', { host: '2620:fe::fe', port: 853 }],
    ['::ffff:198.51.100.53', { host: '::ffff:198.51.100.53', port: 53 }],
  ])('reads %s as a resolver', (text, resolver) => {
    expect(readResolverText(text)).toEqual({ isResolver: true, resolver });
  });

  it.each([
    ['1.2.3.4:53:53', 'shape'],
    ['resolver.example', 'address'],
    ['1.2.3', 'address'],
    [' 198.51.100.53', 'address'],
    ['fe80::1%eth0', 'shape'],
    ['[198.51.100.53]:53', 'address'],
    ['198.51.100.53:0', 'port'],
    ['198.51.100.53:65536', 'port'],
    ['198.51.100.53:', 'port'],
    ['[::1]:x', 'port'],
  ])('refuses %s for its %s', (text, problem) => {
    expect(readResolverText(text)).toEqual({ isResolver: false, problem });
    expect(isResolverText(text)).toBe(false);
  });
});

describe('parseResolverText', () => {
  it('throws the error the caller makes, with a message naming the text and the fault', () => {
    class InputFault extends Error {}
    expect(() => parseResolverText('198.51.100.53:99999', (message) => new InputFault(message))).toThrow(
      new InputFault('resolver "198.51.100.53:99999" has an invalid port'),
    );
  });
});
