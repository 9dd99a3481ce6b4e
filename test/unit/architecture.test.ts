// The arrows between src/'s rooms: read from the import lines, they must all point down (see docs/architecture.md).
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const sourceRoot = fileURLToPath(new URL('../../src/', import.meta.url));

/** A top-level folder of src/ (api, monitor, ...) or a file at its root (engine.ts, types.ts, ...). */
type Room = string;

/** Every file of src/, by its path under src/. */
function sourceFiles(directory = sourceRoot): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(sourceRoot, path)] : [];
  });
}

/** The relative specifiers of a file's import, export-from and dynamic import lines. */
function relativeImportsOf(text: string): string[] {
  const pattern = /(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;
  return [...text.matchAll(pattern)].map((match) => match[1] as string);
}

function roomOf(pathUnderSource: string): Room {
  return (pathUnderSource.split('/')[0] as string).replace(/\.js$/, '.ts');
}

/** Room → the other rooms it imports, with one file and import line for each arrow, to name in a failure. */
function importGraph(): Map<Room, Map<Room, string>> {
  const graph = new Map<Room, Map<Room, string>>();
  for (const file of sourceFiles()) {
    const room = roomOf(file);
    const arrows = graph.get(room) ?? new Map<Room, string>();
    graph.set(room, arrows);
    for (const specifier of relativeImportsOf(readFileSync(join(sourceRoot, file), 'utf8'))) {
      const target = normalize(join(dirname(file), specifier));
      if (target.startsWith('..')) throw new Error(`${file} imports ${specifier}, outside src/`);
      const targetRoom = roomOf(target);
      if (targetRoom !== room && !arrows.has(targetRoom)) arrows.set(targetRoom, `${file} → ${specifier}`);
    }
  }
  return graph;
}

const graph = importGraph();
const importsOf = (room: Room) => [...(graph.get(room)?.keys() ?? [])];

describe('the import graph of src/', () => {
  it('finds the rooms it checks', () => {
    for (const room of [
      'api',
      'monitor',
      'worker',
      'requests',
      'probes',
      'diagnosis',
      'engine.ts',
      'service.ts',
    ])
      expect(graph.has(room), room).toBe(true);
  });

  it('has no two rooms importing each other', () => {
    const mutual = [...graph.keys()].flatMap((room) =>
      importsOf(room)
        .filter((other) => room < other && importsOf(other).includes(room))
        .map(
          (other) => `${room} ⇄ ${other} (${graph.get(room)?.get(other)}; ${graph.get(other)?.get(room)})`,
        ),
    );
    expect(mutual).toEqual([]);
  });

  it('has no cycle through several rooms: every arrow points down from service.ts', () => {
    const cycles: string[] = [];
    const visit = (room: Room, path: Room[]) => {
      for (const next of importsOf(room)) {
        if (path.includes(next)) cycles.push([...path.slice(path.indexOf(next)), next].join(' → '));
        else visit(next, [...path, next]);
      }
    };
    for (const room of graph.keys()) visit(room, [room]);
    expect(cycles).toEqual([]);
  });

  it('keeps the shells apart: api/ and monitor/ do not import each other, monitor/ does not import worker/', () => {
    expect(importsOf('api')).not.toContain('monitor');
    expect(importsOf('monitor')).not.toContain('api');
    expect(importsOf('monitor')).not.toContain('worker');
  });

  it('keeps the abort fan-out shared by batch/ and monitor/ below both: it imports no other room', () => {
    expect(graph.has('abort-fan-out.ts')).toBe(true);
    expect(importsOf('abort-fan-out.ts')).toEqual([]);
  });

  it('lets probes/ and diagnosis/ import types.ts and their own folder only', () => {
    for (const room of ['probes', 'diagnosis'])
      expect(
        importsOf(room).map((other) => graph.get(room)?.get(other) ?? other),
        room,
      ).toEqual(importsOf(room).includes('types.ts') ? [graph.get(room)?.get('types.ts')] : []);
  });

  it('keeps the engine free of the shells: no HTTP, queue, monitor or service code below it', () => {
    const shells = ['api', 'monitor', 'worker', 'requests', 'service.ts', 'cli.ts', 'redis'];
    expect(importsOf('engine.ts').filter((room) => shells.includes(room))).toEqual([]);
  });
});
