// Bearer API keys: compared in constant time, never logged; the caller's identity for rate limits.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpProblem } from './problems.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Returns a middleware that sets `res.locals.clientId` to a key's fingerprint (or the client address when no
 * keys are configured). Comparing SHA-256 digests gives equal-length inputs to timingSafeEqual, and every key
 * is compared so the time does not tell which one nearly matched.
 */
export function createAuth(apiKeys: string[]): RequestHandler {
  const keyDigests = apiKeys.map((key) => ({
    digest: digest(key),
    fingerprint: digest(key).toString('hex').slice(0, 16),
  }));
  return (request, response, next) => {
    if (keyDigests.length === 0) {
      response.locals.clientId = `address:${request.ip ?? 'unknown'}`;
      next();
      return;
    }
    const header = request.get('authorization') ?? '';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (!match) {
      response.setHeader('WWW-Authenticate', 'Bearer realm="reach"');
      next(
        new HttpProblem(401, 'unauthorized', 'send Authorization: Bearer <API key>', {
          field: 'authorization',
        }),
      );
      return;
    }
    const offered = digest(match[1] ?? '');
    let fingerprint: string | undefined;
    for (const key of keyDigests) {
      if (timingSafeEqual(offered, key.digest)) fingerprint = key.fingerprint;
    }
    if (fingerprint === undefined) {
      response.setHeader('WWW-Authenticate', 'Bearer realm="reach", error="invalid_token"');
      next(new HttpProblem(401, 'unauthorized', 'the API key is not valid', { field: 'authorization' }));
      return;
    }
    response.locals.clientId = `key:${fingerprint}`;
    next();
  };
}
