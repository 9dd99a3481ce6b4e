// TCP probe: connects the way browsers do (Happy Eyeballs, RFC 8305) and records every address's outcome.
import net from 'node:net';
import type { ConnectFailureKind, ConnectOutcome } from '../types.js';
import { elapsedSince, errnoOf, familyOfAddress } from './util.js';

export interface TcpProbeOptions {
  addresses: string[];
  port: number;
  timeoutMs: number;
  signal: AbortSignal;
  /** Attempts in flight at most. */
  concurrency?: number;
  /** Returns a reason to refuse connecting to an address (the service's target policy). */
  isAddressAllowed?: (address: string) => string | undefined;
  /** How long an attempt gets alone before the next one starts (RFC 8305 "Connection Attempt Delay"). */
  attemptDelayMs?: number;
}

export interface TcpProbeResult {
  /** The outcomes known when the winner connected (or every outcome, when none connected). */
  outcomes: ConnectOutcome[];
  /** The first connected socket, kept open for the TLS and HTTP phases; the caller owns it. */
  socket?: net.Socket;
  socketAddress?: string;
  /**
   * Every address's outcome, in attempt order, once the attempts still running when the winner connected
   * have ended (each within {@link stragglerTimeoutMs} of the winner, never past the deadline). Never rejects.
   */
  allOutcomes: Promise<ConnectOutcome[]>;
}

/** RFC 8305 section 5 recommends 250 ms. */
export const connectionAttemptDelayMs = 250;

/**
 * How long attempts still running after the winner connected may go on: long enough that a live but slower
 * address answers (ten times the winner's round trip, at least 2 s), short enough that a dead one does not
 * hold the report for the whole budget.
 */
export function stragglerTimeoutMs(winnerConnectMs: number): number {
  return Math.max(2000, Math.round(winnerConnectMs * 10));
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

/** RFC 8305 section 4: address families interleaved, IPv6 first, each family keeping its own order. */
export function happyEyeballsOrder(addresses: string[]): string[] {
  const unique = [...new Set(addresses)];
  const ipv6 = unique.filter((address) => familyOfAddress(address) === 6);
  const ipv4 = unique.filter((address) => familyOfAddress(address) === 4);
  const ordered: string[] = [];
  for (let index = 0; index < Math.max(ipv6.length, ipv4.length); index++) {
    if (index < ipv6.length) ordered.push(ipv6[index] as string);
    if (index < ipv4.length) ordered.push(ipv4[index] as string);
  }
  return ordered;
}

/**
 * Starts one attempt, then the next when the previous fails or after the attempt delay, and hands back the
 * first socket to connect at once. Addresses not yet tried when a winner connects are tried anyway, in the
 * background, so every address of the name has a real outcome (a dead one is evidence of a degraded path);
 * attempts still running then get {@link stragglerTimeoutMs}. Every socket but the winner is closed.
 */
export async function probeTcp(options: TcpProbeOptions): Promise<TcpProbeResult> {
  const order = happyEyeballsOrder(options.addresses);
  const maxInFlight = Math.max(1, options.concurrency ?? 8);
  const attemptDelayMs = options.attemptDelayMs ?? connectionAttemptDelayMs;
  const firstStartedMs = performance.now();
  const deadlineMs = firstStartedMs + options.timeoutMs;
  // Aborted when the stragglers' time is up; the caller's signal (the probe deadline) still cuts everything.
  // One address has no stragglers: it goes without the controller and the combined signal, which cost an
  // EventTarget, a weak reference and listeners per probe (most of a batch's URLs name one address).
  const stragglers = order.length > 1 ? new AbortController() : undefined;
  const signal = stragglers ? AbortSignal.any([options.signal, stragglers.signal]) : options.signal;
  const outcomes: (ConnectOutcome | undefined)[] = new Array(order.length);
  const attempts: Promise<void>[] = [];
  let winner: { socket: net.Socket; address: string; connectMs: number } | undefined;
  let stragglerDeadlineMs = deadlineMs;
  let stragglerTimer: NodeJS.Timeout | undefined;
  let inFlight = 0;
  let next = 0;
  let wake = () => {};

  const start = (index: number) => {
    const address = order[index] as string;
    const startedAfterMs = index === 0 ? 0 : elapsedSince(firstStartedMs);
    const limitMs = winner ? stragglerDeadlineMs : deadlineMs;
    const timeoutMs = Math.max(1, Math.round(limitMs - performance.now()));
    inFlight++;
    const attempt = connectOnce(address, {
      port: options.port,
      timeoutMs,
      signal,
      isAddressAllowed: options.isAddressAllowed,
    }).then(({ outcome, socket }) => {
      inFlight--;
      // connectOnce makes each outcome for this attempt: stamped in place, not copied.
      outcome.startedAfterMs = startedAfterMs;
      outcomes[index] = outcome;
      if (socket && winner) socket.destroy();
      else if (socket && outcome.kind === 'connected') {
        winner = { socket, address, connectMs: outcome.connectMs };
        stragglerDeadlineMs = Math.min(deadlineMs, performance.now() + stragglerTimeoutMs(outcome.connectMs));
        if (stragglers) {
          stragglerTimer = setTimeout(
            () => stragglers.abort(),
            Math.max(0, stragglerDeadlineMs - performance.now()),
          );
        }
      }
      wake();
    });
    attempts.push(attempt);
  };
  const markNotAttempted = (index: number, message: string) => {
    const address = order[index] as string;
    const family = familyOfAddress(address);
    outcomes[index] = { kind: 'not_attempted', address, port: options.port, family, elapsedMs: 0, message };
  };

  while (!winner && (next < order.length || inFlight > 0)) {
    if (next < order.length && signal.aborted) {
      while (next < order.length) markNotAttempted(next++, 'the deadline came before this address was tried');
      // Nothing may be in flight (a signal aborted before the first attempt): then there is no wake to wait for.
      continue;
    }
    if (next < order.length && inFlight < maxInFlight) start(next++);
    const isNextDue = next < order.length && inFlight < maxInFlight;
    await new Promise<void>((resolve) => {
      const timer = isNextDue ? setTimeout(resolve, attemptDelayMs) : undefined;
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  wake = () => {};
  // A winner came first: the rest are still tried, so that each address has a real outcome.
  while (next < order.length) start(next++);

  const known = () => outcomes.filter((outcome): outcome is ConnectOutcome => outcome !== undefined);
  const snapshot = known();
  const allOutcomes = Promise.all(attempts).then(() => {
    clearTimeout(stragglerTimer);
    return known();
  });
  const won = winner as { socket: net.Socket; address: string } | undefined;
  return won
    ? { outcomes: snapshot, socket: won.socket, socketAddress: won.address, allOutcomes }
    : { outcomes: snapshot, allOutcomes };
}

export function connectOnce(
  address: string,
  options: Pick<TcpProbeOptions, 'port' | 'timeoutMs' | 'signal' | 'isAddressAllowed'>,
): Promise<{ outcome: ConnectOutcome; socket?: net.Socket }> {
  const family = familyOfAddress(address);
  const port = options.port;
  const refusal = options.isAddressAllowed?.(address);
  if (refusal !== undefined) {
    return Promise.resolve({
      outcome: { kind: 'refused_by_policy', address, port, family, elapsedMs: 0, message: refusal },
    });
  }
  const aborted = (elapsedMs: number): ConnectOutcome => ({
    kind: 'timeout',
    address,
    port,
    family,
    elapsedMs,
    errno: 'ETIMEDOUT',
    message: 'no answer to our SYN before the deadline',
  });
  // An abort listener added to a signal already aborted never runs: without this, the SYN would go out anyway.
  if (options.signal.aborted) return Promise.resolve({ outcome: aborted(0) });
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
    const onAbort = () => finish(aborted(elapsedSince(started)), false);
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
