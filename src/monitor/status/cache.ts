// The public status bodies (status.json, the HTML page): gathered and rendered once per cache window, with an ETag.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { StatusData } from './data.js';

export type StatusView = 'json' | 'html';

/** A body as sent: the bytes, their Content-Type and a strong ETag (a hash of the bytes). */
export interface RenderedBody {
  body: Buffer;
  contentType: string;
  etag: string;
  /** The gzip-encoded representation, made once on the first request that accepts it. */
  gzipped?: Promise<EncodedBody>;
}

/** A content-encoded representation of a body: its bytes and its own strong ETag. */
export interface EncodedBody {
  body: Buffer;
  etag: string;
}

const gzipAsync = promisify(gzip);

/** Bodies smaller than this go out as they are: gzip would save less than its headers and CPU cost. */
export const gzipMinBytes = 1024;

export interface StatusRenderCacheOptions {
  /** Reads the data; its rejection reaches every request waiting on it and is never kept. */
  gather: (nowMs: number) => Promise<StatusData>;
  /** Renders one view of the data: called at most once per view and gathering. */
  render: Record<StatusView, (data: StatusData) => { text: string; contentType: string }>;
  /** 0 turns the cache off: every request gathers and renders its own. */
  cacheSeconds: number;
  clock: () => number;
}

interface Gathering {
  data: Promise<StatusData>;
  /** When the data was ready; the window runs from then, so a slow gathering still serves a full window. */
  readyAtMs?: number;
  /** By view, or by the key of a query's rendering (a page of the list, a badge). */
  bodies: Map<string, RenderedBody>;
}

/** Renderings kept per gathering beyond the two views: pages, filters and badges people ask for. */
export const keptRenderingsMax = 2000;

export function renderedBodyOf(text: string, contentType: string): RenderedBody {
  const body = Buffer.from(text, 'utf8');
  return { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
}

/**
 * The body gzipped, once per rendering (off the event loop: the page for thousands of monitors is megabytes).
 * Its ETag differs from the identity body's, as two representations' strong validators must (RFC 9110 8.8.3).
 */
export function gzippedOf(rendered: RenderedBody): Promise<EncodedBody> {
  if (!rendered.gzipped) {
    const gzipped = gzipAsync(rendered.body).then((body) => ({
      body,
      etag: `${rendered.etag.slice(0, -1)}-gzip"`,
    }));
    // A failure is not kept: the next request tries again.
    gzipped.catch(() => {
      if (rendered.gzipped === gzipped) delete rendered.gzipped;
    });
    rendered.gzipped = gzipped;
  }
  return rendered.gzipped;
}

/**
 * A page people reload while something is down has to cost little per request. One gathering serves every
 * request that arrives while it runs and for `cacheSeconds` after it is ready; each view is rendered (and
 * hashed) once per gathering, on its first request, so a request in the window only sends bytes it already has.
 */
export class StatusRenderCache {
  private current: Gathering | undefined;

  constructor(private readonly options: StatusRenderCacheOptions) {}

  async get(view: StatusView): Promise<RenderedBody> {
    const rendered = await this.getRendering(view, this.options.render[view]);
    if (!rendered) throw new Error(`the ${view} view rendered nothing`);
    return rendered;
  }

  /**
   * A rendering of the same gathering under its own key (a page of the list, a filter, a badge): rendered
   * once per gathering and key while fewer than `keptRenderingsMax` are kept, so a crawler walking every
   * page cannot grow the memory without bound; past that each request renders its own. `undefined` from
   * `render` (nothing to render, say an unknown monitor) is passed through and never kept.
   */
  async getRendering(
    key: string,
    render: (data: StatusData) => { text: string; contentType: string } | undefined,
  ): Promise<RenderedBody | undefined> {
    const gathering = this.gatheringFor(this.options.clock());
    const data = await gathering.data;
    const kept = gathering.bodies.get(key);
    if (kept) return kept;
    // Rendering is synchronous: the first request to resume renders, the others find its body here.
    const output = render(data);
    if (!output) return undefined;
    const rendered = renderedBodyOf(output.text, output.contentType);
    if (gathering.bodies.size < keptRenderingsMax) gathering.bodies.set(key, rendered);
    return rendered;
  }

  private gatheringFor(nowMs: number): Gathering {
    const { cacheSeconds, clock } = this.options;
    const current = this.current;
    const isFresh =
      current !== undefined &&
      (current.readyAtMs === undefined || nowMs - current.readyAtMs < cacheSeconds * 1000);
    if (cacheSeconds > 0 && current && isFresh) return current;
    const gathering: Gathering = { data: this.options.gather(nowMs), bodies: new Map() };
    if (cacheSeconds === 0) return gathering;
    this.current = gathering;
    gathering.data.then(
      () => {
        gathering.readyAtMs = clock();
      },
      () => {
        // A failed gathering is forgotten at once: the next request tries Redis again.
        if (this.current === gathering) this.current = undefined;
      },
    );
    return gathering;
  }
}

/**
 * Whether an If-None-Match header matches the ETag (RFC 9110 13.1.2: `*`, or any listed tag by the weak
 * comparison, so `W/"x"` matches `"x"`).
 */
export function isNoneMatchSatisfied(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  const opaque = (tag: string) => (tag.startsWith('W/') ? tag.slice(2) : tag);
  const wanted = opaque(etag);
  return (header.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => opaque(tag) === wanted);
}
