// Reads the page check: is the plain-http page for the name the server's own, and how sure can we be?
import type { HttpExchange, PageCheckObservation, ReplayObservation, TargetObservation } from '../types.js';
import { describeExchange } from './describe.js';
import { finalExchange } from './facts.js';

/**
 * Headers every common HTTP stack sends on every answer (RFC 9110 makes Date a must for an origin server with
 * a clock); a server does not drop them for one of its names. A forged page often has neither.
 */
const stackHeaders = ['date', 'server'] as const;

/**
 * A connect round trip long enough that "answered in less than half of it" is not measurement noise. Even so,
 * a busy event loop can report a connect late, so an early answer only ever adds to other evidence.
 */
const minimumRoundTripMs = 5;

export interface PageEvidence {
  final: HttpExchange;
  check: PageCheckObservation;
  /** A complete answer was followed by more bytes on the same connection: a second answer. */
  hasSecondAnswer: boolean;
  /** The peer closed after the answer, then more data came and the kernel reset the connection. */
  isResetAfterFin: boolean;
  /** Stack headers the neutral answer from the same address carries and the answer for the name lacks. */
  missingHeaders: string[];
  /** The answer's first byte came sooner than half the connect round trip to the server. */
  isEarly: boolean;
  /** Answers for the same name at addresses other resolvers gave that are not the same page. */
  differentElsewhere: HttpExchange[];
  /** What a claim would stand on: the strong case names a filter, the thin one is a warning. */
  strength: 'injected' | 'forged' | 'thin' | 'none';
  evidence: string[];
}

export function readPageEvidence(target: TargetObservation): PageEvidence | undefined {
  const final = finalExchange(target);
  const check = target.pageCheck;
  if (!final || !check || final.outcome !== 'response') return undefined;
  const { replay, neutral } = check;
  const isReplayAnswered = replay.outcome === 'response';
  const hasSecondAnswer = isReplayAnswered && replay.bytesAfterResponse > 0;
  const isResetAfterFin = isReplayAnswered && replay.isResetAfterFin;
  const missingHeaders = missingStackHeaders(final, neutral);
  const isEarly = isEarlyAnswer(final);
  const differentElsewhere = check.elsewhere.filter(
    (other) => other.outcome === 'response' && !isSamePage(final, other),
  );
  const isDateMissing = missingHeaders.includes('date');
  const strength: PageEvidence['strength'] = hasSecondAnswer
    ? 'injected'
    : isDateMissing || (isResetAfterFin && missingHeaders.length > 0)
      ? 'forged'
      : // An early answer alone is no sign: a busy prober delivers the connect event late.
        isResetAfterFin || missingHeaders.length > 0 || differentElsewhere.length > 0
        ? 'thin'
        : 'none';
  return {
    final,
    check,
    hasSecondAnswer,
    isResetAfterFin,
    missingHeaders,
    isEarly,
    differentElsewhere,
    strength,
    evidence: [
      describeExchange(final),
      describeReplay(replay),
      `${describeExchange(neutral).replace(/^http:/, 'http (neutral Host):')}${headerList(neutral)}`,
      ...(missingHeaders.length > 0
        ? [
            `http: the answer for ${final.hostHeader} lacks ${missingHeaders.map(headerName).join(' and ')}, which the same server's answer for a neutral Host carries${headerList(final)}`,
          ]
        : []),
      ...(isEarly
        ? [
            `http: the first byte came after ${final.timings.firstByteMs} ms, less than half the ${roundTripMsOf(final)} ms round trip to ${final.address}: from something nearer than the server`,
          ]
        : []),
      ...check.elsewhere.map(
        (other) =>
          `${describeExchange(other).replace(/^http:/, 'http (another resolver’s address):')}${differentElsewhere.includes(other) ? ', not the same page' : ', the same page'}`,
      ),
    ],
  };
}

function missingStackHeaders(final: HttpExchange, neutral: HttpExchange): string[] {
  // Without the names of both answers' headers (older reports) there is nothing to compare.
  if (neutral.outcome !== 'response' || !final.headerNames || !neutral.headerNames) return [];
  const finalNames = final.headerNames;
  const neutralNames = neutral.headerNames;
  return stackHeaders.filter((name) => neutralNames.includes(name) && !finalNames.includes(name));
}

/** The answer came sooner than a round trip to the server (its connection's, when the hop reused one) allows. */
function isEarlyAnswer(final: HttpExchange): boolean {
  const connectMs = roundTripMsOf(final);
  const { firstByteMs } = final.timings;
  return (
    connectMs !== undefined &&
    firstByteMs !== undefined &&
    connectMs >= minimumRoundTripMs &&
    firstByteMs < connectMs / 2
  );
}

function roundTripMsOf(exchange: HttpExchange): number | undefined {
  return exchange.timings.connectMs ?? exchange.reusedConnection?.connectMs;
}

function titleOf(exchange: HttpExchange): string | undefined {
  return /<title[^>]*>([^<]*)</i.exec(exchange.bodyPrefix ?? '')?.[1]?.trim();
}

/** The same page from two addresses: same status, same Server, same title, sizes within a factor of two. */
function isSamePage(a: HttpExchange, b: HttpExchange): boolean {
  const larger = Math.max(a.bodyBytes, b.bodyBytes);
  const smaller = Math.min(a.bodyBytes, b.bodyBytes);
  return (
    a.status === b.status &&
    a.headers.server === b.headers.server &&
    titleOf(a) === titleOf(b) &&
    (larger === 0 || smaller * 2 >= larger)
  );
}

/** A header's name as people write it: Date, Server. */
export function headerName(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

function headerList(exchange: HttpExchange): string {
  return exchange.headerNames ? ` (headers: ${exchange.headerNames.join(', ') || 'none'})` : '';
}

function describeReplay(replay: ReplayObservation): string {
  const where = `replay: GET ${replay.path} with Host ${replay.hostHeader} to ${replay.address} on a raw socket, listening ${Math.round(replay.listenedMs)} ms`;
  if (replay.outcome !== 'response')
    return `${where}: ${replay.outcome}${replay.errno ? ` (${replay.errno})` : ''}`;
  const answer = `${where}: ${replay.status} (${replay.responseBytes} bytes)`;
  if (replay.bytesAfterResponse > 0) {
    return `${answer}, then ${replay.bytesAfterResponse} more bytes on the same connection${replay.afterResponseMs !== undefined ? ` ${replay.afterResponseMs} ms after it ended` : ''}: ${JSON.stringify(replay.afterResponsePrefix ?? '')}`;
  }
  if (replay.isResetAfterFin) return `${answer}, closed, then reset when more data came (${replay.errno})`;
  return `${answer}, nothing after it`;
}
