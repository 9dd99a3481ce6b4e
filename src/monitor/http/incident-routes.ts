// GET /incidents and GET /incidents/:id: every incident kept, a monitor's own and shared ones (one cause, many
// monitors), with what each covers. Public like the status page, which lists the same incidents.
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import {
  fieldErrorsOf,
  HttpProblem,
  invalidRequest,
  unavailableOnRedisError,
} from '../../requests/problems.js';
import type { Incident, MonitorStore } from '../store.js';

export const incidentQuerySchema = z.strictObject({
  state: z.enum(['open', 'resolved', 'all']).default('all').describe('Which incidents to list.'),
  days: z.coerce
    .number()
    .int()
    .min(1)
    .max(90)
    .default(7)
    .describe('Incidents opened in the last this many days, plus every one still open.'),
});

/** Monitors named in one incident's answer; `monitorCount` says how many there are. */
const monitorsListed = 500;
const dayMs = 86_400_000;

export const incidentViewSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['monitor', 'shared']),
    name: z.string().describe("The monitor's name, or the shared cause in words."),
    cause: z.string(),
    code: z.string(),
    summary: z.string(),
    openedAt: z.string(),
    resolvedAt: z.string().nullable(),
    monitorId: z.string().optional().describe("A monitor's own incident: its monitor."),
    mergedInto: z
      .string()
      .optional()
      .describe("A monitor's own incident folded into the shared incident that explained it."),
    sharedKind: z.enum(['local', 'resolver', 'range', 'code']).optional(),
    vantage: z.string().optional().describe('Where the shared cause was seen; @service: this service.'),
    resolvers: z.array(z.string()).optional(),
    range: z.string().optional(),
    monitorCount: z.number().int().optional().describe('Monitors that were part of the shared incident.'),
    monitorsStillFailing: z.number().int().optional(),
    monitors: z.array(z.object({ id: z.string(), name: z.string() })).optional(),
    updates: z.array(z.object({ at: z.string(), cause: z.string(), code: z.string(), summary: z.string() })),
  })
  .meta({ id: 'Incident' });
export type IncidentView = z.infer<typeof incidentViewSchema>;

export function createIncidentRouter(store: MonitorStore): Router {
  const router = Router();
  router.get('/incidents', async (request: Request, response: Response) => {
    const query = incidentQuerySchema.safeParse(request.query);
    if (!query.success) throw invalidRequest(fieldErrorsOf(query.error, 'query'));
    const { state, days } = query.data;
    const incidents = await unavailableOnRedisError(() =>
      store.incidentsSince(Date.now() - days * dayMs, []),
    );
    const chosen = incidents.filter((incident) =>
      state === 'all' ? true : (incident.resolvedAtMs === undefined) === (state === 'open'),
    );
    const views = await unavailableOnRedisError(() =>
      Promise.all(chosen.map((incident) => viewOf(store, incident))),
    );
    response.json({ incidents: views });
  });
  router.get('/incidents/:id', async (request: Request, response: Response) => {
    const id = z.uuid().safeParse(request.params.id);
    if (!id.success) throw new HttpProblem(404, 'notFound', 'no incident has this id');
    const incident = await unavailableOnRedisError(() => store.getIncident(id.data));
    if (!incident) throw new HttpProblem(404, 'notFound', 'no incident has this id');
    response.json(await unavailableOnRedisError(() => viewOf(store, incident)));
  });
  return router;
}

async function viewOf(store: MonitorStore, incident: Incident): Promise<IncidentView> {
  const common = {
    id: incident.id,
    name: incident.monitorName,
    cause: incident.cause,
    code: incident.code,
    summary: incident.summary,
    openedAt: new Date(incident.openedAtMs).toISOString(),
    resolvedAt: incident.resolvedAtMs === undefined ? null : new Date(incident.resolvedAtMs).toISOString(),
    updates: incident.updates.map((update) => ({
      at: new Date(update.atMs).toISOString(),
      cause: update.cause,
      code: update.code,
      summary: update.summary,
    })),
  };
  const { shared } = incident;
  if (!shared) {
    return {
      ...common,
      kind: 'monitor',
      monitorId: incident.monitorId,
      ...(incident.mergedInto ? { mergedInto: incident.mergedInto } : {}),
    };
  }
  const records = await store.monitorsById(shared.monitorIds.slice(0, monitorsListed));
  return {
    ...common,
    kind: 'shared',
    sharedKind: shared.kind as NonNullable<IncidentView['sharedKind']>,
    vantage: shared.vantage,
    ...(shared.resolvers ? { resolvers: shared.resolvers } : {}),
    ...(shared.range ? { range: shared.range } : {}),
    monitorCount: shared.monitorIds.length,
    monitorsStillFailing: shared.currentMonitorIds.length,
    monitors: records.map((record) => ({ id: record.id, name: record.name })),
  };
}
