// Content checks: a monitor's expectations of the final answer (status, body texts, JSON values, response
// time), judged as a pure function of that answer. The classifier's content rule names a failed one.
import type { ContentCheck, ContentExpectations, ContentObservation } from '../types.js';
import { isJsonEqual, parseJsonPath, valueAtPath } from './json-path.js';

export const expectationLimits = {
  statuses: 20,
  texts: 10,
  textLength: 1000,
  json: 10,
  /** The expected JSON value, serialised, at most. */
  jsonValueLength: 2000,
  maxResponseMs: { min: 1, max: 120_000 },
} as const;

/** What the evidence quotes of either side, at most: enough to recognise, too little to flood a report. */
const quotedMaxChars = 120;

const statusRange = /^([1-5]\d\d)-([1-5]\d\d)$/;

export type ExpectationProblem = { field: string; message: string };

/**
 * What is wrong with expectations, field by field (empty when nothing): the API's schema and the engine check
 * the same things through this one function.
 */
export function expectationProblems(expect: ContentExpectations): ExpectationProblem[] {
  const problems: ExpectationProblem[] = [];
  (expect.statuses ?? []).forEach((status, index) => {
    const problem = statusProblem(status);
    if (problem) problems.push({ field: `statuses.${index}`, message: problem });
  });
  (expect.json ?? []).forEach((check, index) => {
    const parsed = parseJsonPath(check.path);
    if ('error' in parsed) {
      problems.push({ field: `json.${index}.path`, message: `not a supported JSON path: ${parsed.error}` });
    }
  });
  return problems;
}

function statusProblem(status: number | string): string | undefined {
  if (typeof status === 'number') {
    return Number.isInteger(status) && status >= 100 && status <= 599
      ? undefined
      : 'a status is a whole number from 100 to 599';
  }
  const match = statusRange.exec(status);
  if (!match) return 'a range is written FROM-TO, such as 200-299';
  return Number(match[1]) <= Number(match[2]) ? undefined : `${status}: FROM must not be above TO`;
}

/** Body texts or JSON values are checked: only then is the body kept beyond its first bytes. */
export function needsBody(expect: ContentExpectations): boolean {
  return (
    (expect.bodyContains?.length ?? 0) > 0 ||
    (expect.bodyNotContains?.length ?? 0) > 0 ||
    (expect.json?.length ?? 0) > 0
  );
}

export interface FinalAnswer {
  url: string;
  status: number;
  responseMs: number;
  /** The body as read (up to the probe's maxBodyBytes), when a check needs it. */
  body: Buffer | undefined;
  isBodyTruncated: boolean;
}

/** Every check asked for, in a fixed order (status, texts, JSON, time), each met or not with both sides. */
export function checkContent(expect: ContentExpectations, answer: FinalAnswer): ContentObservation {
  const text = answer.body?.toString('utf8') ?? '';
  const checks: ContentCheck[] = [];
  if (expect.statuses && expect.statuses.length > 0) {
    checks.push({
      kind: 'status',
      isMet: expect.statuses.some((status) => isStatusIn(answer.status, status)),
      expected: `status ${expect.statuses.join(', ')}`,
      actual: `status ${answer.status}`,
    });
  }
  const readNote = bodyReadNote(answer);
  for (const needle of expect.bodyContains ?? []) {
    const isMet = text.includes(needle);
    checks.push({
      kind: 'body_contains',
      isMet,
      expected: `body contains ${quote(needle)}`,
      actual: isMet ? `found in ${readNote}` : `not in ${readNote}, which begins ${quote(text)}`,
    });
  }
  for (const needle of expect.bodyNotContains ?? []) {
    const at = text.indexOf(needle);
    checks.push({
      kind: 'body_not_contains',
      isMet: at < 0,
      expected: `body does not contain ${quote(needle)}`,
      actual:
        at < 0
          ? `absent from ${readNote}`
          : `found at character ${at}: ${quote(text.slice(Math.max(0, at - 40), at + needle.length + 40))}`,
    });
  }
  if (expect.json && expect.json.length > 0) checks.push(...jsonChecks(expect.json, text, answer));
  if (expect.maxResponseMs !== undefined) {
    checks.push({
      kind: 'response_time',
      isMet: answer.responseMs <= expect.maxResponseMs,
      expected: `response within ${expect.maxResponseMs} ms`,
      actual: `response in ${Math.round(answer.responseMs)} ms`,
    });
  }
  return {
    url: answer.url,
    status: answer.status,
    responseMs: Math.round(answer.responseMs),
    bodyBytesRead: answer.body?.length ?? 0,
    isBodyTruncated: answer.isBodyTruncated,
    checks,
  };
}

function jsonChecks(
  expected: NonNullable<ContentExpectations['json']>,
  text: string,
  answer: FinalAnswer,
): ContentCheck[] {
  let document: unknown;
  let parseProblem: string | undefined;
  try {
    document = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the body; ours says only what went wrong.
    parseProblem = answer.isBodyTruncated
      ? `the body is cut at ${answer.body?.length ?? 0} bytes (PROBE_MAX_BODY_BYTES), so not complete JSON`
      : `the body (${answer.body?.length ?? 0} bytes) is not JSON; it begins ${quote(text)}`;
  }
  return expected.map(({ path, equals }) => {
    const expectedText = `JSON ${path} equals ${jsonText(equals)}`;
    if (parseProblem !== undefined) {
      return { kind: 'json', isMet: false, expected: expectedText, actual: parseProblem };
    }
    const parsed = parseJsonPath(path);
    if ('error' in parsed) {
      return { kind: 'json', isMet: false, expected: expectedText, actual: `bad path: ${parsed.error}` };
    }
    const found = valueAtPath(document, parsed.path);
    if (!found.isFound) {
      return { kind: 'json', isMet: false, expected: expectedText, actual: `no value: ${found.reason}` };
    }
    return {
      kind: 'json',
      isMet: isJsonEqual(found.value, equals),
      expected: expectedText,
      actual: `${path} is ${jsonText(found.value)}`,
    };
  });
}

export function isStatusIn(status: number, accepted: number | string): boolean {
  if (typeof accepted === 'number') return status === accepted;
  const match = statusRange.exec(accepted);
  return match !== null && status >= Number(match[1]) && status <= Number(match[2]);
}

function bodyReadNote(answer: FinalAnswer): string {
  const bytes = answer.body?.length ?? 0;
  return answer.isBodyTruncated
    ? `the first ${bytes} bytes of the body (the rest was not read)`
    : `the body (${bytes} bytes)`;
}

/** A JSON value as JSON text (escaped by JSON.stringify, so one line), cut like a quote. */
function jsonText(value: unknown): string {
  const text = JSON.stringify(value) ?? 'null';
  const chars = Array.from(text);
  return chars.length > quotedMaxChars ? `${chars.slice(0, quotedMaxChars).join('')}…` : text;
}

/**
 * A JSON-quoted excerpt: control characters escaped, at most quotedMaxChars of it, an ellipsis where cut, so
 * whatever the server sent reads as one safe line of evidence.
 */
export function quote(text: string): string {
  const chars = Array.from(text);
  const excerpt = chars.length > quotedMaxChars ? `${chars.slice(0, quotedMaxChars).join('')}…` : text;
  return JSON.stringify(excerpt);
}
