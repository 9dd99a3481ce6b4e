// The diagnose page (GET /), a result's shareable page (GET /r/:id), its fragment for scripts holding an API
// key (GET /results/:id) and the pages' static files. They render from what `fetchProbe` returns; they do
// not read Redis or the queue themselves.
import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { escapeHtml } from '../monitor/status/text.js';
import { HttpProblem } from '../requests/problems.js';
import { staticFileHandler } from '../requests/static-file.js';
import { diagnoseScript, pagesStyles } from './assets.js';
import { renderDocument } from './layout.js';
import { type ProbeLookup, renderResult } from './result.js';

export type { ProbeLookup } from './result.js';

export interface PagesDeps {
  /** The probe's state and report, as GET /probe/:id has it; undefined for an unknown or expired id. */
  fetchProbe: (id: string) => Promise<ProbeLookup | undefined>;
  /** API_KEYS is set: the result page renders nothing itself and its script fetches with the tab's key. */
  isKeyRequired: boolean;
  title?: string;
}

const probeIdSchema = z.uuid();
/** Pending results reload themselves this often when scripts are off. */
const pendingRefreshSeconds = 2;

/** Scripts and styles from this origin only, no inline code, nothing framed. */
const pagePolicy = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

function sendPage(response: Response, status: number, html: string): void {
  for (const [name, value] of Object.entries(pagePolicy)) response.setHeader(name, value);
  response.setHeader('Cache-Control', 'no-store');
  response.status(status).type('text/html; charset=utf-8').send(html);
}

function diagnoseForm(): string {
  return `    <section class="card" aria-labelledby="form-heading">
      <h2 id="form-heading">Why can’t this site be reached?</h2>
      <form class="probe" id="probe-form" action="/" method="get">
        <label>URL <input type="url" name="url" required placeholder="https://example.com/" inputmode="url" autocomplete="url"></label>
        <details class="options"><summary>Options</summary>
          <label>Resolvers <span class="hint">IP or IP:port, separated by commas or spaces (default: the system’s)</span><input type="text" name="resolvers" autocomplete="off"></label>
          <label>Controls <span class="hint">known-good URLs to compare with, one per line</span><textarea name="controls" rows="2"></textarea></label>
          <label>Vantages <span class="hint">names separated by commas, or “all” (when the service runs vantage points)</span><input type="text" name="vantages" autocomplete="off"></label>
        </details>
        <button type="submit">Diagnose</button>
        <p class="message" id="form-message" role="status" aria-live="polite"></p>
        <noscript><p class="message error">Submitting needs JavaScript; a result’s page (/r/&lt;id&gt;) works without it.</p></noscript>
      </form>
    </section>`;
}

export function createPageRouters(deps: PagesDeps) {
  const title = deps.title ?? 'reach';
  const layout = (pageTitle: string, refreshSeconds?: number) => ({
    title: pageTitle,
    isKeyRequired: deps.isKeyRequired,
    ...(refreshSeconds === undefined ? {} : { refreshSeconds }),
  });
  const publicRouter = Router();
  publicRouter.get('/assets/pages.css', staticFileHandler(pagesStyles, 'text/css; charset=utf-8'));
  publicRouter.get(
    '/assets/diagnose.js',
    staticFileHandler(diagnoseScript, 'text/javascript; charset=utf-8'),
  );

  publicRouter.get('/', (_request: Request, response: Response) => {
    sendPage(response, 200, renderDocument(title, diagnoseForm(), layout(`${title}: diagnose a URL`)));
  });

  publicRouter.get('/r/:id', async (request: Request, response: Response) => {
    const id = String(request.params.id);
    const heading = `${title}: result`;
    const notFound = () =>
      sendPage(
        response,
        404,
        renderDocument(
          heading,
          `    <section class="card"><h2>No result with this id</h2><p>It is unknown, or its result has expired. <a href="/">Diagnose a URL</a>.</p></section>`,
          layout(`${title}: no such result`),
        ),
      );
    if (!probeIdSchema.safeParse(id).success) return notFound();
    if (deps.isKeyRequired) {
      // The report is the key holder's: this page carries none of it, and its script fetches it with the key.
      const shell = `    <p class="message" id="result-message" role="status" aria-live="polite"></p>
    <div id="result" data-fetch="true" data-id="${escapeHtml(id)}"><noscript><p class="message error">This service needs an API key: results show with JavaScript on, after entering the key.</p></noscript></div>`;
      return sendPage(response, 200, renderDocument(heading, shell, layout(heading)));
    }
    const lookup = await deps.fetchProbe(id);
    if (!lookup) return notFound();
    const isPending = lookup.status === 'queued' || lookup.status === 'active';
    const main = `    <div id="result" data-id="${escapeHtml(id)}">${renderResult(lookup)}</div>`;
    const pageTitle =
      lookup.status === 'completed' ? `${title}: ${lookup.report.url}` : `${title}: result ${id}`;
    sendPage(
      response,
      200,
      renderDocument(heading, main, layout(pageTitle, isPending ? pendingRefreshSeconds : undefined)),
    );
  });

  /** Behind the API key (mounted by the app at /results): the result as a fragment for the page's script. */
  const keyedRouter = Router();
  keyedRouter.get('/:id', async (request: Request, response: Response) => {
    const id = String(request.params.id);
    const lookup = probeIdSchema.safeParse(id).success ? await deps.fetchProbe(id) : undefined;
    if (!lookup)
      throw new HttpProblem(404, 'notFound', `no probe with id ${id} (unknown, or its result has expired)`, {
        field: 'id',
      });
    response.setHeader('Cache-Control', 'no-store');
    response.type('text/html; charset=utf-8').send(renderResult(lookup));
  });

  return { publicRouter, keyedRouter: { path: '/results', router: keyedRouter } };
}
