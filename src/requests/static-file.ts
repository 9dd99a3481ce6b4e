// A small file the service carries in its code (a style sheet, a script), served with an ETag and an hour of
// caching, answering If-None-Match with 304.
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';

export function staticFileHandler(body: string, contentType: string) {
  const bytes = Buffer.from(body, 'utf8');
  const etag = `"${createHash('sha256').update(bytes).digest('base64url')}"`;
  return (request: Request, response: Response) => {
    response.setHeader('Cache-Control', 'public, max-age=3600');
    response.setHeader('ETag', etag);
    if (request.get('if-none-match') === etag) {
      response.status(304).end();
      return;
    }
    response.type(contentType).send(bytes);
  };
}
