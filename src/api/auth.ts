// Bearer API keys: compared in constant time, never logged; the caller's identity for rate limits.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import { HttpProblem } from '../requests/problems.js';
import type { FailureLimit } from './rate-limit.js';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Returns a middleware that sets `res.locals.clientId` to a key's fingerprint (or the client address when no
 * keys are configured). Comparing SHA-256 digests gives equal-length inputs to timingSafeEqual, and every key
 * is compared so the time does not tell which one nearly matched.
 *
 * `isBasicAccepted` (Bull Board): a browser cannot send a bearer header, so the key is also accepted as the
 * password of HTTP Basic authentication, and the challenge asks for it; the user name is ignored.
 */
export function createAuth(
  apiKeys: string[],
  options: { isBasicAccepted?: boolean; failureLimit?: FailureLimit } = {},
): RequestHandler {
  const challenge = options.isBasicAccepted ? 'Basic realm="reach", charset="UTF-8"' : 'Bearer realm="reach"';
  const keyDigests = apiKeys.map((key) => ({
    digest: digest(key),
    fingerprint: digest(key).toString('hex').slice(0, 16),
  }));
  // A missing or wrong key spends a point of the client address's failure budget; past it the answer is 429.
  const refuse = async (request: Request, problem: HttpProblem): Promise<HttpProblem> =>
    (await options.failureLimit?.(`address:${request.ip ?? 'unknown'}`)) ?? problem;
  return async (request, response, next) => {
    if (keyDigests.length === 0) {
      response.locals.clientId = `address:${request.ip ?? 'unknown'}`;
      next();
      return;
    }
    const offered = offeredKey(request.get('authorization') ?? '', options.isBasicAccepted === true);
    if (offered === undefined) {
      response.setHeader('WWW-Authenticate', challenge);
      const detail = options.isBasicAccepted
        ? 'send the API key as a bearer token or as the Basic password'
        : 'send Authorization: Bearer <API key>';
      next(await refuse(request, new HttpProblem(401, 'unauthorized', detail, { field: 'authorization' })));
      return;
    }
    let fingerprint: string | undefined;
    for (const key of keyDigests) {
      if (timingSafeEqual(offered, key.digest)) fingerprint = key.fingerprint;
    }
    if (fingerprint === undefined) {
      response.setHeader(
        'WWW-Authenticate',
        options.isBasicAccepted ? challenge : 'Bearer realm="reach", error="invalid_token"',
      );
      next(
        await refuse(
          request,
          new HttpProblem(401, 'unauthorized', 'the API key is not valid', { field: 'authorization' }),
        ),
      );
      return;
    }
    response.locals.clientId = `key:${fingerprint}`;
    next();
  };
}

function offeredKey(header: string, isBasicAccepted: boolean): Buffer | undefined {
  const bearer = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (bearer) return digest(bearer[1] ?? '');
  if (!isBasicAccepted) return undefined;
  const basic = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : digest(decoded.slice(colon + 1));
}
