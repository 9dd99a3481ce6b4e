// A request plus the operator's defaults, as the engine's options: what the worker and the monitor runner run.
import { describe, expect, it } from 'vitest';
import { InputError } from '../../../src/engine.js';
import { type ProbeDefaults, probeOptionsFrom } from '../../../src/requests/probe-options.js';

const defaults: ProbeDefaults = {
  resolvers: ['198.51.100.53'],
  controls: ['https://control.example/'],
  timeoutMs: 10_000,
  maxRedirects: 5,
  maxBodyBytes: 262_144,
};

describe('probeOptionsFrom', () => {
  it('takes what the request names and the operator limits', () => {
    expect(
      probeOptionsFrom(
        { url: 'https://site.example/', resolvers: ['[2620:fe::fe]:53'], controls: [], timeoutMs: 500 },
        defaults,
      ),
    ).toEqual({
      url: 'https://site.example/',
      resolvers: [{ host: '2620:fe::fe', port: 53 }],
      controls: [],
      timeoutMs: 500,
      maxRedirects: 5,
      maxBodyBytes: 262_144,
    });
  });

  it('falls back to the defaults where the request says nothing, an empty resolver list included', () => {
    expect(probeOptionsFrom({ url: 'https://site.example/', resolvers: [] }, defaults)).toMatchObject({
      resolvers: [{ host: '198.51.100.53', port: 53 }],
      controls: ['https://control.example/'],
      timeoutMs: 10_000,
    });
  });

  it('leaves the resolvers to the engine when neither the request nor the defaults name any', () => {
    expect(
      probeOptionsFrom({ url: 'https://site.example/' }, { ...defaults, resolvers: [] }),
    ).not.toHaveProperty('resolvers');
  });

  it('reports a resolver that is not IP[:PORT] as the engine input error', () => {
    expect(() =>
      probeOptionsFrom({ url: 'https://site.example/', resolvers: ['dns.example'] }, defaults),
    ).toThrow(InputError);
  });
});
