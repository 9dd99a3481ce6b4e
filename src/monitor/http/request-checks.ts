// Checks every monitor and channel route makes of a request before reading its body.
import type { Request } from 'express';
import { fieldErrorsOf, HttpProblem, invalidRequest } from '../../requests/problems.js';
import { emptyQuerySchema, jsonMediaTypes } from '../../requests/schemas.js';

export function requireJson(request: Request): void {
  if (!request.is(jsonMediaTypes)) {
    throw new HttpProblem(415, 'unsupportedMediaType', 'send the body as Content-Type: application/json', {
      field: 'content-type',
    });
  }
}

export function requireEmptyQuery(request: Request): void {
  const query = emptyQuerySchema.safeParse(request.query);
  if (!query.success) throw invalidRequest(fieldErrorsOf(query.error, 'query'));
}
