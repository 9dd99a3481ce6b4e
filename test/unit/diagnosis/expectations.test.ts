// Content checks as pure functions: the JSON path subset, JSON equality, and each check met or failed.
import { describe, expect, it } from 'vitest';
import {
  checkContent,
  expectationProblems,
  isStatusIn,
  needsBody,
  quote,
} from '../../../src/diagnosis/expectations.js';
import { isJsonEqual, parseJsonPath, valueAtPath } from '../../../src/diagnosis/json-path.js';

const answer = (body: string | undefined, extra: Partial<Parameters<typeof checkContent>[1]> = {}) => ({
  url: 'http://www.example.test/health',
  status: 200,
  responseMs: 12.4,
  body: body === undefined ? undefined : Buffer.from(body),
  isBodyTruncated: false,
  ...extra,
});

describe('the JSON path subset', () => {
  it('reads members by shorthand and by quoted name, and elements by index from either end', () => {
    expect(parseJsonPath(`$.a["b c"]['d\\'e'][0][-1]`)).toEqual({
      path: [
        { kind: 'member', name: 'a' },
        { kind: 'member', name: 'b c' },
        { kind: 'member', name: "d'e" },
        { kind: 'index', index: 0 },
        { kind: 'index', index: -1 },
      ],
    });
    expect(parseJsonPath('$')).toEqual({ path: [] });
    expect(parseJsonPath('$["\\u00e9"]')).toEqual({ path: [{ kind: 'member', name: 'é' }] });
  });

  it('refuses what selects many or evaluates: wildcards, descendants, slices, filters', () => {
    for (const text of ['$.*', '$..a', '$[0:2]', '$[?(@.a==1)]', 'a.b', '$.', '$[01]', '$["a"', '$.a b']) {
      expect(parseJsonPath(text), text).toHaveProperty('error');
    }
    expect(parseJsonPath(`$${'.a'.repeat(33)}`)).toEqual({ error: 'more than 32 segments' });
  });

  it('finds the value at a path, or says where the path stopped matching', () => {
    const document = { a: { list: [1, { b: null }] } };
    const at = (text: string) => {
      const parsed = parseJsonPath(text);
      if ('error' in parsed) throw new Error(parsed.error);
      return valueAtPath(document, parsed.path);
    };
    expect(at('$.a.list[1].b')).toEqual({ isFound: true, value: null });
    expect(at('$.a.list[-2]')).toEqual({ isFound: true, value: 1 });
    expect(at('$.a.missing')).toEqual({ isFound: false, reason: '$["a"]["missing"] is absent' });
    expect(at('$.a.list[5]')).toEqual({ isFound: false, reason: '$["a"]["list"] has 2 elements, no [5]' });
    expect(at('$.a.list.b')).toEqual({ isFound: false, reason: '$["a"]["list"] is an array, not an object' });
    expect(at('$.a[0]')).toEqual({ isFound: false, reason: '$["a"] is an object, not an array' });
    expect(at('$.a.list[0].x')).toEqual({
      isFound: false,
      reason: '$["a"]["list"][0] is a number, not an object',
    });
  });

  it('compares JSON values by type and content, members in any order', () => {
    expect(isJsonEqual({ a: [1, { b: 'x' }], c: null }, { c: null, a: [1, { b: 'x' }] })).toBe(true);
    expect(isJsonEqual(1, '1')).toBe(false);
    expect(isJsonEqual([1, 2], [2, 1])).toBe(false);
    expect(isJsonEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(isJsonEqual(null, {})).toBe(false);
  });
});

describe('content checks', () => {
  it('accepts statuses by code and by inclusive range', () => {
    expect(isStatusIn(204, '200-299')).toBe(true);
    expect(isStatusIn(299, '200-299')).toBe(true);
    expect(isStatusIn(300, '200-299')).toBe(false);
    expect(isStatusIn(401, 401)).toBe(true);
  });

  it('lists the problems of bad expectations by field', () => {
    expect(
      expectationProblems({ statuses: [99, '300-200', 'abc', 204], json: [{ path: '$..x', equals: 1 }] }),
    ).toEqual([
      { field: 'statuses.0', message: 'a status is a whole number from 100 to 599' },
      { field: 'statuses.1', message: '300-200: FROM must not be above TO' },
      { field: 'statuses.2', message: 'a range is written FROM-TO, such as 200-299' },
      { field: 'json.0.path', message: 'not a supported JSON path: expected a member name after "." at 1' },
    ]);
    expect(expectationProblems({ statuses: ['200-299', 404], json: [{ path: '$.a', equals: 1 }] })).toEqual(
      [],
    );
  });

  it('keeps the body only for text and JSON checks', () => {
    expect(needsBody({ statuses: [200], maxResponseMs: 100 })).toBe(false);
    expect(needsBody({ bodyContains: [] })).toBe(false);
    expect(needsBody({ bodyNotContains: ['x'] })).toBe(true);
    expect(needsBody({ json: [{ path: '$', equals: 1 }] })).toBe(true);
  });

  it('judges every check in order and gives both sides of each', () => {
    const observation = checkContent(
      {
        statuses: ['200-299'],
        bodyContains: ['ok', 'missing'],
        bodyNotContains: ['error'],
        json: [{ path: '$.status', equals: 'ok' }],
        maxResponseMs: 10,
      },
      answer('{"status":"ok"}'),
    );
    expect(observation).toEqual({
      url: 'http://www.example.test/health',
      status: 200,
      responseMs: 12,
      bodyBytesRead: 15,
      isBodyTruncated: false,
      checks: [
        { kind: 'status', isMet: true, expected: 'status 200-299', actual: 'status 200' },
        {
          kind: 'body_contains',
          isMet: true,
          expected: 'body contains "ok"',
          actual: 'found in the body (15 bytes)',
        },
        {
          kind: 'body_contains',
          isMet: false,
          expected: 'body contains "missing"',
          actual: 'not in the body (15 bytes), which begins "{\\"status\\":\\"ok\\"}"',
        },
        {
          kind: 'body_not_contains',
          isMet: true,
          expected: 'body does not contain "error"',
          actual: 'absent from the body (15 bytes)',
        },
        {
          kind: 'json',
          isMet: true,
          expected: 'JSON $.status equals "ok"',
          actual: '$.status is "ok"',
        },
        {
          kind: 'response_time',
          isMet: false,
          expected: 'response within 10 ms',
          actual: 'response in 12 ms',
        },
      ],
    });
  });

  it('says a cut body is not complete JSON rather than not JSON', () => {
    const [check] = checkContent(
      { json: [{ path: '$.a', equals: 1 }] },
      answer('{"a": 1, "b": "xxxx', { isBodyTruncated: true }),
    ).checks;
    expect(check).toMatchObject({
      isMet: false,
      actual: 'the body is cut at 19 bytes (PROBE_MAX_BODY_BYTES), so not complete JSON',
    });
  });

  it('quotes at most 120 characters, escaped, so a hostile body stays one short line', () => {
    expect(quote('a\nb\u001b[31m')).toBe('"a\\nb\\u001b[31m"');
    const long = quote('é'.repeat(500));
    expect(long).toBe(`"${'é'.repeat(120)}…"`);
  });
});
