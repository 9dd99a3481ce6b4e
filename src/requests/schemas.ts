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

const probeFields = {
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
};

const vantageNameSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'not a vantage name');

/** Which vantages probe: names, "all" the live ones, or a label selector with a count. */
export const vantageSelectionSchema = z
  .union([
    z.literal('all'),
    z.array(vantageNameSchema).min(1).max(32),
    z.strictObject({
      labels: z.record(z.string().max(40), z.string().max(64)).optional(),
      count: z.number().int().min(1).max(32).optional(),
    }),
  ])
  .describe(
    'Probe from several vantage points and compare: a list of names, "all", or { labels, count }. Without it, one worker probes as before.',
  );

export const probeRequestSchema = z
  .strictObject({ ...probeFields, vantages: vantageSelectionSchema.optional() })
  .meta({ id: 'ProbeRequest' });

/**
 * What a probe job carries: the request without the vantage selection, a fan-out part's deadline, and a batch
 * item's place.
 */
export const probeJobSchema = z.strictObject({
  ...probeFields,
  notAfterMs: z.number().int().positive().optional(),
  fanOut: z
    .strictObject({
      id: z.string().min(1).max(64),
      vantage: vantageNameSchema,
      size: z.number().int().min(1).max(32),
    })
    .optional(),
  batch: z
    .strictObject({
      id: z.uuid(),
      index: z.number().int().min(0),
      vantages: z
        .array(
          z.strictObject({
            name: vantageNameSchema,
            labels: z.record(z.string().max(40), z.string().max(64)),
          }),
        )
        .min(1)
        .max(32)
        .optional(),
    })
    .optional(),
});

export type ProbeRequest = z.infer<typeof probeRequestSchema>;

export const emptyQuerySchema = z.strictObject({});

/** The media types a JSON body may be sent as, on every route that takes one. */
export const jsonMediaTypes = ['application/json', 'application/*+json'];
