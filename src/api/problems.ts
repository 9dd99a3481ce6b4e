// RFC 9457 problem details: the one error type routes throw and the one middleware that writes them.
import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import type { z } from 'zod';

export interface FieldError {
  field: string;
  message: string;
}

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
  internal: { type: 'urn:reach:problem:internal', title: 'Internal error' },
} as const;

export type ProblemKind = keyof typeof problemTypes;

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

export function fieldErrorsOf(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: [prefix, ...issue.path.map(String), key].filter(Boolean).join('.'),
        message: 'unknown field',
      }));
    }
    return [
      {
        field: [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || prefix || 'body',
        message: issue.message,
      },
    ];
  });
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

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
}

/** The only place errors become responses: body-parser failures, HttpProblem, and everything else as 500. */
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
    const parserError = error as BodyParserError;
    if (parserError?.type === 'entity.parse.failed') {
      sendProblem(
        response,
        new HttpProblem(400, 'malformedJson', parserError.message, { field: 'body' }),
        instance,
      );
      return;
    }
    if (parserError?.type === 'entity.too.large') {
      const detail = `the body is over the limit of ${parserError.limit ?? 16384} bytes`;
      sendProblem(response, new HttpProblem(413, 'bodyTooLarge', detail, { field: 'body' }), instance);
      return;
    }
    if (
      typeof parserError?.type === 'string' &&
      typeof parserError.status === 'number' &&
      parserError.status < 500
    ) {
      sendProblem(
        response,
        new HttpProblem(parserError.status, 'invalidRequest', parserError.message, { field: 'body' }),
        instance,
      );
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
