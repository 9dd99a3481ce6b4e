// The public status endpoints: the page (/status), its JSON (/status.json), the Statuspage v2 paths
// (/api/v2/*.json), the incident feed (/history.atom) and the badges (/badge/:id/<kind>.svg).
import { type Request, type Response, Router } from 'express';
import type { z } from 'zod';
import {
  fieldErrorsOf,
  HttpProblem,
  invalidRequest,
  unavailableOnRedisError,
} from '../../requests/problems.js';
import { emptyQuerySchema } from '../../requests/schemas.js';
import { staticFileHandler } from '../../requests/static-file.js';
import type { MonitorConfig } from '../config.js';
import { renderIncidentFeed } from '../status/atom.js';
import { type BadgeKind, badgeContent, badgeKinds, badgeQuerySchema, renderBadge } from '../status/badge.js';
import {
  gzipMinBytes,
  gzippedOf,
  isNoneMatchSatisfied,
  type RenderedBody,
  StatusRenderCache,
} from '../status/cache.js';
import { type StatusData, StatusDataSource } from '../status/data.js';
import {
  incidentPageQuerySchema,
  isPaged,
  type ListingQuery,
  listingFieldsOf,
  listingQuerySchema,
  pageOf,
  queryText,
} from '../status/listing.js';
import { liveScriptPath, statusLiveScript } from '../status/live.js';
import { renderStatusPage } from '../status/page.js';
import {
  pagedComponents,
  pagedUnresolved,
  type StatuspageBodies,
  type StatuspagePath,
  statuspageBodiesOf,
  statuspagePaths,
} from '../status/statuspage.js';
import { type PageIdentity, toStatusSummary } from '../status/summary.js';
import type { MonitorStore } from '../store.js';
import { createIncidentRouter } from './incident-routes.js';

export interface StatusRouterDeps {
  store: MonitorStore;
  config: MonitorConfig;
  /** Milliseconds since the epoch; tests pass their own to step past the cache window. */
  clock?: () => number;
}

const jsonType = 'application/json; charset=utf-8';

function parsedQuery<Schema extends z.ZodType>(
  schema: Schema,
  fields: Record<string, unknown>,
): z.output<Schema> {
  const query = schema.safeParse(fields);
  if (!query.success) throw invalidRequest(fieldErrorsOf(query.error, 'query'));
  return query.data;
}

function listingOf(request: Request): ListingQuery {
  return parsedQuery(listingQuerySchema, listingFieldsOf(request.query as Record<string, unknown>));
}

/**
 * Public: mounted before any API-key check. One gathering of the data serves every view within the cache
 * window, and each view (each page, filter and badge) is rendered once per gathering (see StatusRenderCache).
 */
export function createStatusRouter(deps: StatusRouterDeps): Router {
  const { store, config } = deps;
  const router = Router();
  router.use(createIncidentRouter(store));
  const source = new StatusDataSource(store);
  const page: PageIdentity = {
    id: 'reach',
    name: config.status.title,
    url: `${config.publicBaseUrl ?? ''}/status`,
  };
  const pageOptions = { title: config.status.title, refreshSeconds: config.status.refreshSeconds };
  const renderings = new StatusRenderCache({
    gather: (nowMs) => unavailableOnRedisError(() => source.gather(nowMs)),
    render: {
      json: (data) => ({ text: JSON.stringify(toStatusSummary(data, page)), contentType: jsonType }),
      html: (data) => ({
        text: renderStatusPage(data, pageOptions),
        contentType: 'text/html; charset=utf-8',
      }),
    },
    cacheSeconds: config.status.cacheSeconds,
    clock: deps.clock ?? Date.now,
  });
  const statuspage = new WeakMap<StatusData, StatuspageBodies>();
  const statuspageOf = (data: StatusData): StatuspageBodies => {
    const kept = statuspage.get(data);
    if (kept) return kept;
    const bodies = statuspageBodiesOf(data, page);
    statuspage.set(data, bodies);
    return bodies;
  };
  const json = (body: unknown) => ({ text: JSON.stringify(body), contentType: jsonType });

  const send = async (request: Request, response: Response, rendered: RenderedBody): Promise<void> => {
    response.setHeader('Cache-Control', `public, max-age=${config.status.cacheSeconds}`);
    response.vary('Accept-Encoding');
    const isGzipped =
      rendered.body.length >= gzipMinBytes && request.acceptsEncodings('gzip', 'identity') === 'gzip';
    const representation = isGzipped ? await gzippedOf(rendered) : rendered;
    response.setHeader('ETag', representation.etag);
    if (isNoneMatchSatisfied(request.get('if-none-match'), representation.etag)) {
      response.status(304).end();
      return;
    }
    response.setHeader('Content-Type', rendered.contentType);
    if (isGzipped) response.setHeader('Content-Encoding', 'gzip');
    response.send(representation.body);
  };
  /** A rendering that always exists (the views below never render nothing). */
  const rendering = async (
    key: string,
    render: (data: StatusData) => { text: string; contentType: string },
  ): Promise<RenderedBody> => {
    const rendered = await renderings.getRendering(key, render);
    if (!rendered) throw new Error(`the ${key} view rendered nothing`);
    return rendered;
  };

  router.get('/status.json', async (request: Request, response: Response) => {
    const query = listingOf(request);
    const rendered = isPaged(query)
      ? await rendering(`json${queryText(query)}`, (data) =>
          json(toStatusSummary(data, page, pageOf(data.components, query))),
        )
      : await renderings.get('json');
    response.setHeader('Access-Control-Allow-Origin', '*');
    await send(request, response, rendered);
  });

  const pagePolicy = statusPagePolicy(config.status.frameAncestors);
  router.get('/status', async (request: Request, response: Response) => {
    const query = listingOf(request);
    for (const [name, value] of Object.entries(pagePolicy)) response.setHeader(name, value);
    const rendered =
      queryText(query) !== ''
        ? await rendering(`html${queryText(query)}`, (data) => ({
            text: renderStatusPage(data, pageOptions, query),
            contentType: 'text/html; charset=utf-8',
          }))
        : await renderings.get('html');
    await send(request, response, rendered);
  });

  for (const path of Object.keys(statuspagePaths) as StatuspagePath[]) {
    router.get(`/api/v2/${path}`, async (request: Request, response: Response) => {
      let rendered: RenderedBody;
      const fields = listingFieldsOf(request.query as Record<string, unknown>);
      if (path === 'components.json' && isPaged(listingOf(request))) {
        const query = listingOf(request);
        rendered = await rendering(`v2:${path}${queryText(query)}`, (data) =>
          json(pagedComponents(statuspageOf(data), pageOf(data.components, query))),
        );
      } else if (path === 'incidents/unresolved.json' && Object.keys(fields).length > 0) {
        const query = parsedQuery(incidentPageQuerySchema, fields);
        rendered = await rendering(`v2:${path}${queryText(query)}`, (data) =>
          json(pagedUnresolved(statuspageOf(data), query)),
        );
      } else {
        parsedQuery(emptyQuerySchema, request.query as Record<string, unknown>);
        rendered = await rendering(`v2:${path}`, (data) => json(statuspagePaths[path](statuspageOf(data))));
      }
      response.setHeader('Access-Control-Allow-Origin', '*');
      await send(request, response, rendered);
    });
  }

  router.get(`/${liveScriptPath}`, staticFileHandler(statusLiveScript, 'text/javascript; charset=utf-8'));

  router.get('/history.atom', async (request: Request, response: Response) => {
    parsedQuery(emptyQuerySchema, request.query as Record<string, unknown>);
    const rendered = await rendering('atom', (data) => ({
      text: renderIncidentFeed(data, page),
      contentType: 'application/atom+xml; charset=utf-8',
    }));
    response.setHeader('Access-Control-Allow-Origin', '*');
    await send(request, response, rendered);
  });

  router.get('/badge/:id/:file', async (request: Request, response: Response) => {
    const id = String(request.params.id);
    const kind = String(request.params.file).replace(/\.svg$/, '') as BadgeKind;
    if (!String(request.params.file).endsWith('.svg') || !badgeKinds.includes(kind))
      throw new HttpProblem(
        404,
        'notFound',
        `no badge ${request.params.file}: ${badgeKinds.map((name) => `${name}.svg`).join(', ')}`,
      );
    const query = parsedQuery(badgeQuerySchema, request.query as Record<string, unknown>);
    const key = `badge:${id}:${kind}:${query.label ?? ''}:${query.window ?? ''}:${query.percentile ?? ''}`;
    const rendered = await renderings.getRendering(key, (data) => {
      const component = data.components.find((candidate) => candidate.monitor.id === id);
      if (!component) return undefined;
      const content = badgeContent(kind, component, query);
      return {
        text: renderBadge(content.label, content.message, content.color),
        contentType: 'image/svg+xml; charset=utf-8',
      };
    });
    if (!rendered) throw new HttpProblem(404, 'notFound', `no monitor with id ${id}`, { field: 'id' });
    response.setHeader('Access-Control-Allow-Origin', '*');
    response.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'");
    await send(request, response, rendered);
  });

  return router;
}

/**
 * The page is plain HTML with one inline style sheet, a GET form to filter the list and its one script from
 * this origin (live updates, which fetch the page again): nothing else may load, and only the operator's
 * chosen origins (STATUS_FRAME_ANCESTORS) may frame it, so it cannot be embedded to mislead.
 */
function statusPagePolicy(frameAncestors: string[]): Record<string, string> {
  const ancestors = frameAncestors.length > 0 ? frameAncestors.join(' ') : "'none'";
  return {
    'Content-Security-Policy': `default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors ${ancestors}`,
    ...(frameAncestors.length === 0 ? { 'X-Frame-Options': 'DENY' } : {}),
  };
}
