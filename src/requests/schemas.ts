// The request schemas shared below the API, the monitors and the workers: what a probe request may ask for.
import { z } from 'zod';
import { expectationLimits, expectationProblems } from '../diagnosis/expectations.js';
import { jsonPathLimits } from '../diagnosis/json-path.js';
import { targetUrlProblem } from '../probes/target-url-text.js';
import { isResolverText, resolverTextFormat } from '../resolver-text.js';

export const resolverSchema = z
  .string()
  .max(64)
  .refine(isResolverText, `expected ${resolverTextFormat} with a port in 1..65535`)
  .describe('A DNS resolver to query: "IP", "IP:PORT" or "[IPv6]:PORT".');

/** Every http(s) URL a request or a setting names: targets, controls, webhooks, the public base URL. */
export const httpUrlSchema = z
  .url({ protocol: /^https?$/, message: 'expected an absolute http:// or https:// URL' })
  .max(2048)
  .superRefine((text, context) => {
    let problem: string | undefined;
    try {
      problem = targetUrlProblem(new URL(text));
    } catch {
      return; // not a URL: the check above says so
    }
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  });

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

const checkedText = z.string().min(1).max(expectationLimits.textLength);

/** Content checks on the final answer (a monitor's `expect`); the engine checks the same through one function. */
export const contentExpectationsSchema = z
  .strictObject({
    statuses: z
      .array(
        z.union([
          z.number().int().min(100).max(599),
          z.string().regex(/^[1-5]\d\d-[1-5]\d\d$/, 'a range is written FROM-TO, such as 200-299'),
        ]),
      )
      .min(1)
      .max(expectationLimits.statuses)
      .optional()
      .describe(
        'Accepted final statuses: codes (200) and inclusive ranges ("200-299"). Others fail the run.',
      ),
    bodyContains: z
      .array(checkedText)
      .max(expectationLimits.texts)
      .optional()
      .describe(
        'Texts the body must each contain (case-sensitive; the first PROBE_MAX_BODY_BYTES are read).',
      ),
    bodyNotContains: z
      .array(checkedText)
      .max(expectationLimits.texts)
      .optional()
      .describe('Texts the body must not contain (case-sensitive; the first PROBE_MAX_BODY_BYTES are read).'),
    json: z
      .array(
        z.strictObject({
          path: z
            .string()
            .max(jsonPathLimits.length)
            .describe('$ then .name, [\'name\'], ["name"] or [index] (negative from the end); nothing else.'),
          equals: z
            .json()
            .refine((value) => JSON.stringify(value).length <= expectationLimits.jsonValueLength, {
              message: `at most ${expectationLimits.jsonValueLength} characters as JSON`,
            })
            .describe('The JSON value expected there (any type; objects compare member by member).'),
        }),
      )
      .max(expectationLimits.json)
      .optional()
      .describe('Values the JSON body must hold at these paths.'),
    maxResponseMs: z
      .number()
      .int()
      .min(expectationLimits.maxResponseMs.min)
      .max(expectationLimits.maxResponseMs.max)
      .optional()
      .describe(
        "The final answer's body must be complete within this many ms of the run's start (DNS included).",
      ),
  })
  .superRefine((expect, context) => {
    for (const problem of expectationProblems(expect)) {
      context.addIssue({
        code: 'custom',
        message: problem.message,
        path: problem.field.split('.').map(segmentOf),
      });
    }
  })
  .meta({ id: 'ContentExpectations' });

function segmentOf(part: string): string | number {
  return /^\d+$/.test(part) ? Number(part) : part;
}

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
      batchId: z.uuid().optional(),
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
  /** A monitor's content checks and slowness threshold, carried to each vantage that probes it. */
  expect: contentExpectationsSchema.optional(),
  slowFirstByteMs: z.number().int().min(100).max(60_000).optional(),
});

export type ProbeRequest = z.infer<typeof probeRequestSchema>;

export const emptyQuerySchema = z.strictObject({});

/** The media types a JSON body may be sent as, on every route that takes one. */
export const jsonMediaTypes = ['application/json', 'application/*+json'];
