// An HTTP exchange that runs out of time against a stalled loopback target reports the same ending whichever of its
// two clocks fires first: undici's headers or body timeout (the exchange's share) or the probe's deadline signal.
// Each order is made on purpose, not left to the event loop: one exchange gets a short share and a signal that
// never aborts, the other a share far away and a signal aborted once the target has the request (or, for the body,
// once the headers have come).
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExchangeOptions, exchange } from '../../src/probes/http.js';

/** Where the target stalls: before the status line, or after the headers and the first bytes of the body. */
type Stall = 'headers' | 'body';

let server: net.Server;
const sockets = new Set<net.Socket>();
/** Called with each request's stall once the target has read the request. */
let onRequest: (stall: Stall) => void = () => {};

beforeAll(async () => {
  server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const stall: Stall = head.startsWith('GET /body ') ? 'body' : 'headers';
      if (stall === 'body')
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nten bytes.');
      onRequest(stall);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

function exchangeWith(stall: Stall, timeoutMs: number, signal: AbortSignal, onResponseStart?: () => void) {
  const options: ExchangeOptions = {
    scheme: 'http',
    address: '127.0.0.1',
    port: (server.address() as net.AddressInfo).port,
    hostHeader: '127.0.0.1',
    servername: null,
    path: `/${stall}`,
    timeoutMs,
    maxBodyBytes: 65_536,
    signal,
    probeStartedMs: performance.now(),
    ...(onResponseStart ? { onResponseStart } : {}),
  };
  return exchange(options);
}

/** Undici's timeout first: a short share, and a deadline signal that does not abort during the exchange. */
async function shareFirst(stall: Stall) {
  const deadline = new AbortController();
  const ended = await exchangeWith(stall, 300, deadline.signal);
  deadline.abort(new Error('probe deadline reached'));
  return ended;
}

/** The deadline first: its signal aborted while the target stalls, undici's timeouts 30 s away. */
async function deadlineFirst(stall: Stall) {
  const deadline = new AbortController();
  const abort = () => deadline.abort(new Error('probe deadline reached'));
  if (stall === 'headers') onRequest = (seen) => seen === 'headers' && abort();
  try {
    return await exchangeWith(stall, 30_000, deadline.signal, stall === 'body' ? abort : undefined);
  } finally {
    onRequest = () => {};
  }
}

const endingOf = (ended: Awaited<ReturnType<typeof exchange>>) => ({
  outcome: ended.outcome,
  errno: ended.errno,
  message: ended.message,
  status: ended.status,
});

const cases = [
  {
    stall: 'headers',
    where: 'a target stalled before its headers',
    ending: {
      outcome: 'headers_timeout',
      errno: 'UND_ERR_HEADERS_TIMEOUT',
      message: 'no response headers before the deadline',
      status: undefined,
    },
  },
  {
    stall: 'body',
    where: 'a body stalled after the headers',
    ending: {
      outcome: 'body_timeout',
      errno: 'UND_ERR_BODY_TIMEOUT',
      message: 'the body did not end before the deadline',
      status: 200,
    },
  },
] as const;

describe('an exchange out of time', () => {
  it.each(cases)(
    'reports $where as $ending.outcome/$ending.errno whichever clock fires first',
    async (each) => {
      const [byShare, byDeadline] = [await shareFirst(each.stall), await deadlineFirst(each.stall)];
      // The same ending from either order, and the one the classifier reads.
      expect(endingOf(byDeadline)).toEqual(endingOf(byShare));
      expect(endingOf(byShare)).toEqual(each.ending);
      expect(byDeadline.isRequestSent).toBe(true);
    },
  );
});
