// The parts of undici a probe uses (Client, its request call, the error classes), loaded on their own: undici's
// index also loads fetch, WebSocket, caches and mocks (and Node's bundled undici, through a global), about
// 200 ms of CPU at start-up on a loaded machine, paid by the CLI and again by each probing thread.
import { createRequire } from 'node:module';
import type { Dispatcher, Client as UndiciClient, errors as undiciErrors } from 'undici';

const require = createRequire(import.meta.url);

export const Client = require('undici/lib/dispatcher/client.js') as typeof UndiciClient;
export type Client = UndiciClient;
export const errors = require('undici/lib/core/errors.js') as typeof undiciErrors;

/**
 * `client.request(options)`: undici's index adds `request` to every dispatcher's prototype; without the index,
 * the same function is called on the client.
 */
const apiRequest = require('undici/lib/api/api-request.js') as (
  this: UndiciClient,
  options: Dispatcher.RequestOptions,
) => Promise<Dispatcher.ResponseData>;

export function request(
  client: UndiciClient,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  return apiRequest.call(client, options);
}
