// DateTime serialisation without V8's slow path: see src/fanout/index.ts.
import { DateTimeResolver } from 'graphql-scalars';

/**
 * Each Date's ISO string, made once: the records `activeLivestreams` answers with are shared
 * between requests until a stream changes (Store.listActive), and so are their Dates, which
 * nothing ever modifies.
 */
const isoStrings = new WeakMap<Date, string>();

/**
 * The `DateTime` scalar's serialiser. graphql-scalars' DateTime serialises to the Date itself,
 * left for JSON.stringify to turn into its ISO string through `toJSON`, which takes every result
 * with a date off V8's fast stringify path; the same string, made here. Typed as the Date it
 * stands for (Pothos types a scalar's wire value as its output type).
 */
export function serializeDateTime(value: unknown): Date {
  // Our own values are valid Dates (every record's times): straight to the string.
  if (value instanceof Date && !Number.isNaN(value.getTime())) {
    let iso = isoStrings.get(value);
    if (iso === undefined) {
      iso = value.toISOString();
      isoStrings.set(value, iso);
    }
    return iso as unknown as Date;
  }
  const serialized: Date | string = DateTimeResolver.serialize(value);
  return (serialized instanceof Date ? serialized.toISOString() : serialized) as unknown as Date;
}
