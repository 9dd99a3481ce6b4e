// The shared pieces of the OpenAPI document: a router's fragment (paths and the zod schemas they refer to),
// references to components, problem answers, and the conversion of the named schemas into components.
import { z } from 'zod';

export type JsonObject = Record<string, unknown>;

/** What a set of routes adds to the document: its paths, and the zod schemas behind its components. */
export interface OpenApiFragment {
  /** Component name → the zod schema that validates (or describes) it. */
  components: Readonly<Record<string, z.ZodType>>;
  paths(security: unknown[]): Record<string, JsonObject>;
}

export const componentRef = (name: string) => ({ $ref: `#/components/schemas/${name}` });

export const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: componentRef('Problem') } },
});

/**
 * The components section from the schemas named in it, converted together so one component refers to another
 * (#/components/schemas/Report) by $ref. OpenAPI 3.1 speaks JSON Schema 2020-12, which is what z.toJSONSchema
 * produces; only $schema and $id are dropped.
 */
export function componentSchemas(
  components: Readonly<Record<string, z.ZodType>>,
): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  for (const [name, schema] of Object.entries(components)) registry.add(schema, { id: name });
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  const converted: Record<string, JsonObject> = {};
  for (const name of Object.keys(components)) {
    const { $schema: _dialect, $id: _id, ...rest } = schemas[name] as JsonObject;
    converted[name] = rest;
  }
  return converted;
}
