// A small JSONPath subset for content checks: one path to one value, no filters, no wildcards, no evaluation.
//
// Accepted (RFC 9535 singular queries, the part that names exactly one value):
//   $                      the whole document
//   .name                  a member, name = a letter or _ then letters, digits or _ (non-ASCII allowed)
//   ['name'] / ["name"]    a member by any name, with \\ \' \" \/ \b \f \n \r \t \uXXXX escapes
//   [2] / [-1]             an array element; negative counts from the end
// A check compares the one value at the path with the expected one, so the parts of JSONPath that select many
// (wildcards, slices, filters, descendants) have no place here; libraries that evaluate filter expressions have
// had code-execution flaws, and this needs none of that.

export type JsonPathSegment = { kind: 'member'; name: string } | { kind: 'index'; index: number };

export const jsonPathLimits = { length: 256, segments: 32 } as const;

export type JsonPathParse = { path: JsonPathSegment[] } | { error: string };

const shorthandStart = /[A-Za-z_\u0080-\uffff]/;
const shorthandRest = /[A-Za-z0-9_\u0080-\uffff]/;
const escapes: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

export function parseJsonPath(text: string): JsonPathParse {
  if (text.length > jsonPathLimits.length)
    return { error: `longer than ${jsonPathLimits.length} characters` };
  if (!text.startsWith('$')) return { error: 'must start with $' };
  const path: JsonPathSegment[] = [];
  let at = 1;
  while (at < text.length) {
    if (path.length >= jsonPathLimits.segments) {
      return { error: `more than ${jsonPathLimits.segments} segments` };
    }
    const char = text[at];
    if (char === '.') {
      let end = at + 1;
      if (!shorthandStart.test(text[end] ?? '')) {
        return { error: `expected a member name after "." at ${at}` };
      }
      while (end < text.length && shorthandRest.test(text[end] ?? '')) end += 1;
      path.push({ kind: 'member', name: text.slice(at + 1, end) });
      at = end;
    } else if (char === '[') {
      const segment = readBracket(text, at + 1);
      if ('error' in segment) return segment;
      path.push(segment.segment);
      at = segment.end;
    } else {
      return { error: `unexpected ${JSON.stringify(char)} at ${at}: expected . or [` };
    }
  }
  return { path };
}

function readBracket(
  text: string,
  start: number,
): { segment: JsonPathSegment; end: number } | { error: string } {
  const quote = text[start];
  if (quote === "'" || quote === '"') {
    let name = '';
    let at = start + 1;
    while (at < text.length && text[at] !== quote) {
      const char = text[at] as string;
      if (char !== '\\') {
        name += char;
        at += 1;
        continue;
      }
      const escaped = text[at + 1] ?? '';
      if (escaped === 'u') {
        const hex = text.slice(at + 2, at + 6);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) return { error: `bad \\u escape at ${at}` };
        name += String.fromCharCode(Number.parseInt(hex, 16));
        at += 6;
        continue;
      }
      const replacement = escapes[escaped];
      if (replacement === undefined) return { error: `bad escape \\${escaped} at ${at}` };
      name += replacement;
      at += 2;
    }
    if (text[at] !== quote || text[at + 1] !== ']') return { error: `unclosed name at ${start}` };
    return { segment: { kind: 'member', name }, end: at + 2 };
  }
  const match = /^(-?(?:0|[1-9]\d{0,8}))\]/.exec(text.slice(start));
  if (!match?.[1]) return { error: `expected a quoted name or an index at ${start}` };
  return { segment: { kind: 'index', index: Number(match[1]) }, end: start + match[0].length };
}

export type JsonPathLookup = { isFound: true; value: unknown } | { isFound: false; reason: string };

/** The value at the path, or where the path stopped matching and why. */
export function valueAtPath(document: unknown, path: readonly JsonPathSegment[]): JsonPathLookup {
  let current = document;
  let walked = '$';
  for (const segment of path) {
    if (segment.kind === 'member') {
      const step = `${walked}[${JSON.stringify(segment.name)}]`;
      if (typeof current !== 'object' || current === null || Array.isArray(current)) {
        return { isFound: false, reason: `${walked} is ${kindOf(current)}, not an object` };
      }
      if (!Object.hasOwn(current, segment.name)) return { isFound: false, reason: `${step} is absent` };
      current = (current as Record<string, unknown>)[segment.name];
      walked = step;
    } else {
      if (!Array.isArray(current)) {
        return { isFound: false, reason: `${walked} is ${kindOf(current)}, not an array` };
      }
      const index = segment.index < 0 ? current.length + segment.index : segment.index;
      if (index < 0 || index >= current.length) {
        return {
          isFound: false,
          reason: `${walked} has ${current.length} elements, no [${segment.index}]`,
        };
      }
      current = current[index];
      walked = `${walked}[${segment.index}]`;
    }
  }
  return { isFound: true, value: current };
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Equality of JSON values: same type, same members in any order, same elements in order. */
export function isJsonEqual(left: unknown, right: unknown): boolean {
  if (left === right) return true;
  if (typeof left !== 'object' || typeof right !== 'object' || left === null || right === null) return false;
  if (Array.isArray(left) || Array.isArray(right)) {
    if (!Array.isArray(left) || !Array.isArray(right) || left.length !== right.length) return false;
    return left.every((item, index) => isJsonEqual(item, right[index]));
  }
  const leftKeys = Object.keys(left);
  const rightRecord = right as Record<string, unknown>;
  if (leftKeys.length !== Object.keys(rightRecord).length) return false;
  return leftKeys.every(
    (key) =>
      Object.hasOwn(rightRecord, key) &&
      isJsonEqual((left as Record<string, unknown>)[key], rightRecord[key]),
  );
}
