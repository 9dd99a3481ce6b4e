// A monitor as the store keeps it: its record, its states, its id and the entries of its run history.
import { z } from 'zod';
import type { ContentExpectations } from '../types.js';
import type { RecurringWindow } from './maintenance.js';

export const monitorStateValues = ['pending', 'up', 'degraded', 'down', 'maintenance'] as const;
export type MonitorState = (typeof monitorStateValues)[number];

/** What Redis keeps for a monitor: the input with defaults applied, plus identity and times. */
export interface MonitorRecord {
  id: string;
  name: string;
  url: string;
  intervalSeconds: number;
  timeoutMs?: number;
  resolvers?: string[];
  controls?: string[];
  confirmations: number;
  slowFirstByteMs?: number;
  /** Content checks on the final answer: accepted statuses, body texts, JSON values, response time. */
  expect?: ContentExpectations;
  tags: string[];
  /** The status page's group this monitor is listed under (Statuspage: a group component); none when absent. */
  group?: string;
  maintenance: Array<{ startsAt: string; endsAt: string; reason?: string }>;
  /** Windows that come back (a cron expression in a time zone, and a duration). */
  recurringMaintenance?: RecurringWindow[];
  webhooks: Array<{ url: string; secret: string }>;
  /** Ids of notification channels (POST /channels) told of every state change. */
  channels?: string[];
  /** Days before the certificate's notAfter at which to warn (default 14 and 3). */
  certificateExpiryDays?: number[];
  /** Probe from these vantages each run (names, "all", or labels with a count), instead of one worker. */
  vantages?: string[] | 'all' | { labels?: Record<string, string>; count?: number };
  /** Vantages that must see the site down for the run to count as down (default: a majority). */
  quorum?: number;
  createdAt: string;
  updatedAt: string;
}

export const monitorIdSchema = z.uuid().describe('The monitor id returned by POST /monitors.');

/** What one vantage saw in a monitor run. */
export const vantageOutcomeSchema = z.object({
  name: z.string(),
  status: z.enum(['completed', 'lost', 'refused', 'failed']),
  health: z.enum(['up', 'degraded', 'down']).optional().describe('Absent when the vantage has no report.'),
  cause: z.string().optional(),
  code: z.string().optional(),
});
export type VantageOutcome = z.infer<typeof vantageOutcomeSchema>;

export const historyEntrySchema = z
  .object({
    at: z.string().describe('When the run started.'),
    scheduledAt: z.string().optional().describe('When the schedule wanted it to start.'),
    trigger: z.enum(['schedule', 'recheck', 'manual']),
    health: z.enum(['up', 'degraded', 'down']),
    isMaintenance: z.boolean(),
    cause: z.string(),
    code: z.string(),
    status: z.number().int().optional().describe('The final HTTP status, when a response came.'),
    durationMs: z.number(),
    phasesMs: z.object({
      resolve: z.number().optional(),
      connect: z.number().optional(),
      tls: z.number().optional(),
      processing: z.number().optional(),
      transfer: z.number().optional(),
    }),
    certificateNotAfter: z
      .string()
      .optional()
      .describe("The site's TLS certificate's notAfter, when the run saw one."),
    warnings: z
      .array(z.string())
      .optional()
      .describe(
        "Codes of the report's warnings (path.address_unreachable ...), when it had any; they never change the health.",
      ),
    vantages: z
      .array(vantageOutcomeSchema)
      .optional()
      .describe(
        'For a monitor with vantages: what each saw; the run is down when at least the quorum saw it down.',
      ),
  })
  .meta({ id: 'HistoryEntry' });
export type HistoryEntry = z.infer<typeof historyEntrySchema>;
