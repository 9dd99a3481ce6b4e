// A monitor as the store keeps it: its record, its states, its id and the entries of its run history.
import { z } from 'zod';

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
  tags: string[];
  maintenance: Array<{ startsAt: string; endsAt: string; reason?: string }>;
  webhooks: Array<{ url: string; secret: string }>;
  createdAt: string;
  updatedAt: string;
}

export const monitorIdSchema = z.uuid().describe('The monitor id returned by POST /monitors.');

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
    warnings: z
      .array(z.string())
      .optional()
      .describe(
        "Codes of the report's warnings (path.address_unreachable ...), when it had any; they never change the health.",
      ),
  })
  .meta({ id: 'HistoryEntry' });
export type HistoryEntry = z.infer<typeof historyEntrySchema>;
