// The two parts of undici a probe uses (Client, the error classes), loaded on their own: undici's index loads
// fetch, WebSocket, caches and mocks too (about 110 ms of CPU at start-up, paid again by each probing thread).
import { createRequire } from 'node:module';
import type { Client as UndiciClient, errors as undiciErrors } from 'undici';

const require = createRequire(import.meta.url);

export const Client = require('undici/lib/dispatcher/client.js') as typeof UndiciClient;
export type Client = UndiciClient;
export const errors = require('undici/lib/core/errors.js') as typeof undiciErrors;
