// RFC 9457 problem details, shared by every router: the one error type routes throw, its body's schema, and the
// one middleware that writes them.
import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { isRedisReady, type RedisClient } from '../redis/connection.js';
import type { FieldError } from './field-errors.js';

export { type FieldError, fieldErrorsOf } from './field-errors.js';

export const problemTypes = {
  invalidRequest: { type: 'urn:reach:problem:invalid-request', title: 'The request is not valid' },
  malformedJson: { type: 'urn:reach:problem:malformed-json', title: 'The body is not valid JSON' },
  unsupportedMediaType: { type: 'urn:reach:problem:unsupported-media-type', title: 'The body must be JSON' },
  bodyTooLarge: { type: 'urn:reach:problem:body-too-large', title: 'The body is too large' },
  targetRefused: { type: 'urn:reach:problem:target-refused', title: 'The target is not allowed' },
  unauthorized: { type: 'urn:reach:problem:unauthorized', title: 'A valid API key is required' },
  rateLimited: { type: 'urn:reach:problem:rate-limited', title: 'Too many requests' },
  queueFull: { type: 'urn:reach:problem:queue-full', title: 'The probe queue is full' },
  unavailable: { type: 'urn:reach:problem:unavailable', title: 'The service is unavailable' },
  notFound: { type: 'urn:reach:problem:not-found', title: 'Not found' },
  conflict: { type: 'urn:reach:problem:conflict', title: 'The resource is in use' },
  deliveryFailed: { type: 'urn:reach:problem:delivery-failed', title: 'The message was not delivered' },
  internal: { type: 'urn:reach:problem:internal', title: 'Internal error' },
} as const;

export type ProblemKind = keyof typeof problemTypes;

/** The body of every problem answer, as the OpenAPI document's Problem component. */
export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    field: z.string().optional().describe('The first field at fault.'),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });

export class HttpProblem extends Error {
  override name = 'HttpProblem';
  constructor(
    readonly status: number,
    readonly kind: ProblemKind,
    readonly detail: string,
    readonly extra: { errors?: FieldError[]; retryAfterSeconds?: number; [key: string]: unknown } = {},
  ) {
    super(detail);
  }
}

export function invalidRequest(errors: FieldError[]): HttpProblem {
  const detail = errors.map((error) => `${error.field}: ${error.message}`).join('; ');
  return new HttpProblem(400, 'invalidRequest', detail, { errors });
}

export function sendProblem(response: Response, problem: HttpProblem, instance: string): void {
  const { retryAfterSeconds, errors, ...extensions } = problem.extra;
  if (retryAfterSeconds !== undefined)
    response.setHeader('Retry-After', String(Math.max(1, Math.ceil(retryAfterSeconds))));
  const kind = problemTypes[problem.kind];
  response
    .status(problem.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: kind.type,
        title: kind.title,
        status: problem.status,
        detail: problem.detail,
        instance,
        ...(errors ? { field: errors[0]?.field, errors } : {}),
        ...extensions,
      }),
    );
}

/**
 * Runs a store read or write; Redis failing becomes a 503 problem. The client's error text stays in our logs
 * (the caller's), never in the answer: it names hosts, ports and commands.
 */
export async function unavailableOnRedisError<T>(
  action: () => Promise<T>,
  what = 'the store (Redis)',
): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof HttpProblem) throw error;
    throw new HttpProblem(503, 'unavailable', `${what} is unavailable; try again shortly`, {
      retryAfterSeconds: 2,
    });
  }
}

/** Answers 503 at once, before any work, when the client is not connected to Redis. */
export function requireRedis(redis: RedisClient): void {
  if (!isRedisReady(redis)) {
    throw new HttpProblem(503, 'unavailable', 'the queue store (Redis) is unreachable; try again shortly', {
      retryAfterSeconds: 2,
    });
  }
}

interface ClientError extends Error {
  type?: string;
  status?: number;
  statusCode?: number;
  limit?: number;
}

/** The problem kind of a client error that carries its own 4xx status (body-parser, the router, bull-board). */
function kindOfStatus(status: number): ProblemKind {
  if (status === 401) return 'unauthorized';
  if (status === 404) return 'notFound';
  if (status === 413) return 'bodyTooLarge';
  if (status === 415) return 'unsupportedMediaType';
  if (status === 429) return 'rateLimited';
  return 'invalidRequest';
}

/** Safe words for a client error whose own message may name internals (zlib, iconv, the router). */
function detailOfClientError(error: ClientError, status: number): string {
  if (error.type === 'encoding.unsupported') return 'the Content-Encoding is not supported';
  if (error.type === 'charset.unsupported') return 'the charset is not supported; send UTF-8';
  if (error.type === 'request.aborted') return 'the request was aborted';
  if (error.type === 'request.size.invalid') return 'the body is shorter or longer than Content-Length';
  if (error instanceof URIError || /decode param/i.test(error.message ?? ''))
    return 'the path holds a malformed percent-encoding';
  if (status === 400 && error.type === undefined) return 'the request could not be read';
  return error.message || 'the request is not valid';
}

/** The only place errors become responses: HttpProblem, client errors with their own 4xx status, else 500. */
export function problemMiddleware(logger: Logger): ErrorRequestHandler {
  return (error: unknown, request, response, next) => {
    if (response.headersSent) {
      next(error);
      return;
    }
    const instance = request.originalUrl;
    if (error instanceof HttpProblem) {
      sendProblem(response, error, instance);
      return;
    }
    const clientError = (error ?? {}) as ClientError;
    if (clientError.type === 'entity.parse.failed') {
      sendProblem(
        response,
        new HttpProblem(400, 'malformedJson', clientError.message, { field: 'body' }),
        instance,
      );
      return;
    }
    if (clientError.type === 'entity.too.large') {
      const detail = `the body is over the limit of ${clientError.limit ?? 16384} bytes`;
      sendProblem(response, new HttpProblem(413, 'bodyTooLarge', detail, { field: 'body' }), instance);
      return;
    }
    const status = clientError.status ?? clientError.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const detail = detailOfClientError(clientError, status);
      const field = clientError.type === undefined ? 'path' : 'body';
      sendProblem(response, new HttpProblem(status, kindOfStatus(status), detail, { field }), instance);
      return;
    }
    logger.error({ err: error, path: request.path }, 'unhandled error');
    sendProblem(
      response,
      new HttpProblem(500, 'internal', 'an unexpected error happened; it was logged'),
      instance,
    );
  };
}
