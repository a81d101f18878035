import type { z } from 'zod';
import { ValidationError } from './errors.js';

/** Parses client input, turning the first problem into a `ValidationError` naming the field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : null;
  throw new ValidationError(`${field ? `${field}: ` : ''}${issue?.message ?? 'invalid input'}`, field);
}
