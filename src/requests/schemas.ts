// The request schemas shared below the API, the monitors and the workers: what a probe request may ask for.
import { isIP } from 'node:net';
import { z } from 'zod';

const resolverPattern = /^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|[0-9a-fA-F:]+|\[[0-9a-fA-F:]+\](:\d{1,5})?)$/;

export const resolverSchema = z
  .string()
  .max(64)
  .regex(resolverPattern, 'expected IP, IP:PORT or [IPv6]:PORT')
  .refine(isResolverText, 'expected IP, IP:PORT or [IPv6]:PORT with a port in 1..65535')
  .describe('A DNS resolver to query: "IP", "IP:PORT" or "[IPv6]:PORT".');

function isResolverText(text: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  const portOk = (port: string | undefined) =>
    port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
  if (bracketed) return isIP(bracketed[1] ?? '') === 6 && portOk(bracketed[2]);
  if (isIP(text) !== 0) return true;
  const [host, port] = text.split(':');
  return isIP(host ?? '') === 4 && portOk(port);
}

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
