// TCP probe: connect to every resolved address (one IP literal per attempt), bounded in parallel.
import net from 'node:net';
import type { ConnectFailureKind, ConnectOutcome } from '../types.js';
import { elapsedSince, errnoOf } from './util.js';

export interface TcpProbeOptions {
  addresses: string[];
  port: number;
  timeoutMs: number;
  signal: AbortSignal;
  /** Parallel attempts at most. */
  concurrency?: number;
  /** Returns a reason to refuse connecting to an address (the service's target policy). */
  isAddressAllowed?: (address: string) => string | undefined;
}

export interface TcpProbeResult {
  outcomes: ConnectOutcome[];
  /** The first connected socket, kept open for the TLS and HTTP phases; the caller owns it. */
  socket?: net.Socket;
  socketAddress?: string;
}

const errnoKinds: Record<string, ConnectFailureKind> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  ETIMEDOUT: 'timeout',
  EHOSTUNREACH: 'host_unreachable',
  EHOSTDOWN: 'host_unreachable',
  ENETUNREACH: 'net_unreachable',
  ENETDOWN: 'net_unreachable',
};

export function connectFailureKind(errno: string | undefined): ConnectFailureKind {
  return (errno && errnoKinds[errno]) || 'error';
}

/**
 * Connects to each address once. The first socket to connect (in address order, preferring the
 * earliest listed among those that connected) is handed back open so the next phases reuse it.
 */
export async function probeTcp(options: TcpProbeOptions): Promise<TcpProbeResult> {
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const outcomes: ConnectOutcome[] = new Array(options.addresses.length);
  const sockets: (net.Socket | undefined)[] = new Array(options.addresses.length);
  let next = 0;

  const worker = async () => {
    while (next < options.addresses.length) {
      const index = next++;
      const address = options.addresses[index] as string;
      const result = await connectOnce(address, options);
      outcomes[index] = result.outcome;
      sockets[index] = result.socket;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, options.addresses.length) }, worker));

  const keptIndex = sockets.findIndex((socket) => socket !== undefined);
  sockets.forEach((socket, index) => {
    if (index !== keptIndex) socket?.destroy();
  });
  const kept = sockets[keptIndex];
  return kept ? { outcomes, socket: kept, socketAddress: options.addresses[keptIndex] } : { outcomes };
}

export function connectOnce(
  address: string,
  options: Pick<TcpProbeOptions, 'port' | 'timeoutMs' | 'signal' | 'isAddressAllowed'>,
): Promise<{ outcome: ConnectOutcome; socket?: net.Socket }> {
  const family = net.isIPv6(address) ? 6 : 4;
  const port = options.port;
  const refusal = options.isAddressAllowed?.(address);
  if (refusal !== undefined) {
    return Promise.resolve({
      outcome: { kind: 'refused_by_policy', address, port, family, elapsedMs: 0, message: refusal },
    });
  }
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = net.connect({ host: address, port, family, noDelay: true });
    let isDone = false;
    const finish = (outcome: ConnectOutcome, keep: boolean) => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('error');
      socket.removeAllListeners('connect');
      if (keep) {
        // Errors after this point belong to the next phase's listeners; never let one go unhandled.
        socket.on('error', () => {});
        resolve({ outcome, socket });
      } else {
        socket.destroy();
        resolve({ outcome });
      }
    };
    const fail = (kind: ConnectFailureKind, errno?: string, message?: string) =>
      finish({ kind, address, port, family, elapsedMs: elapsedSince(started), errno, message }, false);
    const onAbort = () => fail('timeout', 'ETIMEDOUT', 'no answer to our SYN before the deadline');
    const timer = setTimeout(onAbort, options.timeoutMs);
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () =>
      finish({ kind: 'connected', address, port, family, connectMs: elapsedSince(started) }, true),
    );
    socket.once('error', (error) => {
      const errno = errnoOf(error);
      fail(connectFailureKind(errno), errno, error.message);
    });
  });
}
