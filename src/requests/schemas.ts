// The request schemas shared below the API, the monitors and the workers: what a probe request may ask for.
import { z } from 'zod';
import { isResolverText, resolverTextFormat } from '../resolver-text.js';

export const resolverSchema = z
  .string()
  .max(64)
  .refine(isResolverText, `expected ${resolverTextFormat} with a port in 1..65535`)
  .describe('A DNS resolver to query: "IP", "IP:PORT" or "[IPv6]:PORT".');

/** Every http(s) URL a request or a setting names: targets, controls, webhooks, the public base URL. */
export const httpUrlSchema = z
  .url({ protocol: /^https?$/, message: 'expected an absolute http:// or https:// URL' })
  .max(2048);

export const probeRequestSchema = z
  .strictObject({
    url: httpUrlSchema.describe('The URL to diagnose.'),
    resolvers: z
      .array(resolverSchema)
      .max(8)
      .optional()
      .describe('Resolvers to query instead of the defaults.'),
    controls: z
      .array(httpUrlSchema)
      .max(8)
      .optional()
      .describe('Known-good URLs probed in parallel, to tell a local problem from a remote one.'),
    timeoutMs: z.number().int().min(100).max(120_000).optional().describe('Deadline for the whole probe.'),
  })
  .meta({ id: 'ProbeRequest' });

export type ProbeRequest = z.infer<typeof probeRequestSchema>;

export const emptyQuerySchema = z.strictObject({});

/** The media types a JSON body may be sent as, on every route that takes one. */
export const jsonMediaTypes = ['application/json', 'application/*+json'];
