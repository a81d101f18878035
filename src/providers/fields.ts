import { z } from 'zod';

/**
 * Lenient fields for vendor answers and webhooks whose documentation leaves types loose: one odd
 * field is read as absent rather than failing the whole body.
 */

/** Text that may come as an empty string for "not yet": read as absent. */
export const optionalText = z.preprocess((value) => (value === '' ? null : value), z.string().nullish());

/** Text that may come as a number (read as its text) or an empty string (absent); anything else is absent. */
export const lenientText = z.preprocess(
  (value) => (typeof value === 'number' ? String(value) : value === '' ? null : value),
  z.string().nullish().catch(null),
);

/** A number that may come as a numeric string; anything else is absent. */
export const optionalNumber = z.preprocess((value) => {
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}, z.number().nullish());
