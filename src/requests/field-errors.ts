// A zod error as a list of field paths and messages: how the API's problems and the workers' refusals name a fault.
import type { z } from 'zod';

export interface FieldError {
  field: string;
  message: string;
}

export function fieldErrorsOf(error: z.ZodError, prefix = ''): FieldError[] {
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        field: [prefix, ...issue.path.map(String), key].filter(Boolean).join('.'),
        message: 'unknown field',
      }));
    }
    return [
      {
        field: [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || prefix || 'body',
        message: issue.message,
      },
    ];
  });
}
