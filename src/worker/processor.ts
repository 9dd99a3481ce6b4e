// The BullMQ processor: a job's data in, the engine's report (or a final refusal) out.
import { InputError, parseResolver, probe, TargetRefusedError } from '../engine.js';
import type { AddressPolicy } from '../safety/address-policy.js';
import type { ProbeJobData, ProbeJobResult } from './job.js';

export interface ProbeDefaults {
  resolvers: string[];
  controls: string[];
  timeoutMs: number;
  maxRedirects: number;
  maxBodyBytes: number;
}

export type ProbeRunner = (data: ProbeJobData, signal?: AbortSignal) => Promise<ProbeJobResult>;

/**
 * Runs one probe. The target failing is a report; a refused address or bad input is a final answer.
 * Anything else thrown is our own failure and propagates, so BullMQ retries the job with backoff.
 */
export function createProbeRunner(options: {
  defaults: ProbeDefaults;
  isAddressAllowed: AddressPolicy;
}): ProbeRunner {
  const { defaults, isAddressAllowed } = options;
  return async (data, signal) => {
    try {
      const resolverTexts = data.resolvers && data.resolvers.length > 0 ? data.resolvers : defaults.resolvers;
      const report = await probe({
        url: data.url,
        ...(resolverTexts.length > 0 ? { resolvers: resolverTexts.map((text) => parseResolver(text)) } : {}),
        controls: data.controls ?? defaults.controls,
        timeoutMs: data.timeoutMs ?? defaults.timeoutMs,
        maxRedirects: defaults.maxRedirects,
        maxBodyBytes: defaults.maxBodyBytes,
        isAddressAllowed,
        ...(signal ? { signal } : {}),
      });
      return { outcome: 'report', report };
    } catch (error) {
      if (error instanceof TargetRefusedError) {
        return { outcome: 'refused', address: error.address, reason: error.reason };
      }
      if (error instanceof InputError)
        return { outcome: 'invalid', field: error.field, message: error.message };
      throw error;
    }
  };
}
