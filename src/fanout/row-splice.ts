// The splice path of a subscription's plan (event-plan.ts): a replayed change's result written as
// JSON text straight from its snapshot's text (row-text.ts), for a selection whose fields the
// schema declares to be elements of the row (`rowColumn`), without parsing the snapshot, building
// the record, resolving those fields or stringifying a result object. Hand-written for speed:
// with the lazily made record (store/logged-record.ts) ≈ a quarter of a replay's CPU per change
// (bench/README.md, "Catch-up: the splice path", 2026-12-05, late session).
//
// The text is what `JSON.stringify` writes for the result graphql-js would give (the frames are
// compared byte for byte with graphql-ws', test/continuity/frames.test.ts): keys in the
// selection's order, each value serialized by its type. A snapshot's element is taken as it is
// only where that is its serialization: a string (ID, String) `JSON.stringify` wrote (one with an
// escape is written again, in case another writer escaped differently), an Int written as
// `String` would, an enum's value by its name, a time as its type serializes the Date. Any other
// element, or a row not of that form, makes the plan write the result as before.
import { GraphQLEnumType, GraphQLID, GraphQLInt, GraphQLString } from 'graphql';
import { type LeafField, leafValue, OFF_PATH } from './plan-fields.js';

type Kind = 'string' | 'int' | 'enum' | 'time' | 'resolved';

interface SplicedField {
  /** `"responseName":`, after a comma but for the first. */
  key: string;
  field: LeafField;
  kind: Kind;
  /** The row element (a `resolved` field has none). */
  index: number;
  /** An enum's values as the row writes them, and its names as JSON at the same index (`enum`). */
  values: readonly string[];
  names: readonly string[];
}

const MAX_INT = 2 ** 31 - 1;
const MIN_INT = -(2 ** 31);

export class RowSplice {
  /** The row's elements read (the highest one declared, plus one), and their bounds in the text. */
  private readonly count: number;
  private readonly bounds: Int32Array;
  /** The text's parts: head, then each field's key and value, then the closing braces. */
  private readonly parts: string[];

  private constructor(
    head: string,
    private readonly fields: readonly SplicedField[],
  ) {
    this.count = Math.max(...fields.map((field) => field.index)) + 1;
    this.bounds = new Int32Array(2 * this.count);
    this.parts = [head, ...fields.flatMap((field) => [field.key, '']), '}}}'];
  }

  /** The splice of a plan's fields, or null when none of them is declared a row element. */
  static of(rootName: string, fields: readonly LeafField[]): RowSplice | null {
    if (!fields.some((field) => field.column)) return null;
    const spliced = fields.map((field, i): SplicedField => {
      const key = `${i === 0 ? '' : ','}${JSON.stringify(field.responseName)}:`;
      const { kind, names = new Map<string, string>() } = kindOf(field);
      const index = kind === 'resolved' ? -1 : (field.column?.index ?? -1);
      return { key, field, kind, index, values: [...names.keys()], names: [...names.values()] };
    });
    return new RowSplice(`{"data":{${JSON.stringify(rootName)}:{`, spliced);
  }

  /**
   * The result's JSON text for `source`, whose row is `text`, or undefined when a value is off
   * this path (the plan then writes the result as an object).
   */
  write(text: string, source: unknown, payload: unknown, context: unknown): string | undefined {
    const bounds = this.bounds;
    if (!scanRow(text, this.count, bounds)) return undefined;
    // Joined into one flat string: concatenated, the frame would be a tree of small strings
    // holding slices of the snapshot until the socket has written it, which the collector copies.
    const parts = this.parts;
    let j = 1;
    for (const spliced of this.fields) {
      const value =
        spliced.kind === 'resolved'
          ? resolvedText(spliced.field, source, payload, context)
          : elementText(spliced, text, bounds[2 * spliced.index] as number, bounds[2 * spliced.index + 1] as number);
      if (value === undefined) return undefined;
      parts[j++] = spliced.key;
      parts[j++] = value;
    }
    return parts.join('');
  }
}

function kindOf(field: LeafField): { kind: Kind; names?: Map<string, string> } {
  const { column, type } = field;
  if (!column) return { kind: 'resolved' };
  if (column.time) return { kind: 'time' };
  if (type === GraphQLString || type === GraphQLID) return { kind: 'string' };
  if (type === GraphQLInt) return { kind: 'int' };
  if (type instanceof GraphQLEnumType) {
    const names = new Map<string, string>();
    for (const value of type.getValues()) {
      if (typeof value.value === 'string') names.set(JSON.stringify(value.value), JSON.stringify(value.name));
    }
    return { kind: 'enum', names };
  }
  return { kind: 'resolved' };
}

/**
 * A row element, `text` from `start` to `end`, as its field's JSON, or undefined. Read in place:
 * an enum's value compared where it stands rather than sliced out and looked up in a Map (which
 * hashed each fresh slice), an integer's digits read rather than sliced and parsed (bench/README.md,
 * "Catch-up", 2026-12-06, morning session).
 */
function elementText(spliced: SplicedField, text: string, start: number, end: number): string | undefined {
  const length = end - start;
  if (length === 4 && text.startsWith('null', start)) return spliced.field.nonNull ? undefined : 'null';
  switch (spliced.kind) {
    case 'string': {
      if (text.charCodeAt(start) !== 34) return undefined;
      const element = text.slice(start, end);
      return element.includes('\\') ? JSON.stringify(JSON.parse(element)) : element;
    }
    case 'int': {
      const n = canonicalInteger(text, start, end);
      return n !== undefined && n <= MAX_INT && n >= MIN_INT ? text.slice(start, end) : undefined;
    }
    case 'enum': {
      const { values, names } = spliced;
      for (let i = 0; i < values.length; i++) {
        const value = values[i] as string;
        if (value.length === length && text.startsWith(value, start)) return names[i];
      }
      return undefined;
    }
    case 'time': {
      const ms = canonicalInteger(text, start, end);
      if (ms === undefined) return undefined;
      const serialized = spliced.field.type.serialize(new Date(ms));
      return typeof serialized === 'string' ? JSON.stringify(serialized) : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The safe integer `text` holds from `start` to `end` when it is written as `String` writes it
 * (no sign but a minus, no leading zero, no `-0`, no exponent), else undefined.
 */
function canonicalInteger(text: string, start: number, end: number): number | undefined {
  let i = start;
  const negative = text.charCodeAt(i) === 45; // -
  if (negative) i++;
  const digits = end - i;
  if (digits < 1 || digits > 16) return undefined;
  if (text.charCodeAt(i) === 48 && (digits > 1 || negative)) return undefined; // 0…, -0
  let n = 0;
  for (; i < end; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
  }
  if (n > Number.MAX_SAFE_INTEGER) return undefined;
  return negative ? -n : n;
}

/** A field resolved as the plan does, as JSON, or undefined. */
function resolvedText(field: LeafField, source: unknown, payload: unknown, context: unknown): string | undefined {
  const value = leafValue(field, source, payload, context);
  if (value === OFF_PATH) return undefined;
  return value === null ? 'null' : (JSON.stringify(value) as string | undefined);
}

/**
 * The bounds of the first `count` elements of a JSON array's text (`[` … `]`, no whitespace, as
 * `JSON.stringify` writes it) into `bounds` (start, end of each); false when it is not such an
 * array of scalars or is shorter.
 */
function scanRow(text: string, count: number, bounds: Int32Array): boolean {
  if (text.charCodeAt(0) !== 91) return false; // [
  let i = 1;
  for (let n = 0; n < count; n++) {
    const start = i;
    const first = text.charCodeAt(i);
    if (first === 34) {
      // A string: to its closing quote (one after an odd number of backslashes is escaped).
      let end = text.indexOf('"', i + 1);
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return false;
      i = end + 1;
    } else {
      if (first === 91 || first === 123) return false; // a nested array or object
      while (i < text.length) {
        const c = text.charCodeAt(i);
        if (c === 44 || c === 93) break; // , ]
        i++;
      }
      if (i === start) return false;
    }
    bounds[2 * n] = start;
    bounds[2 * n + 1] = i;
    const separator = text.charCodeAt(i);
    if (separator === 44) i++;
    else if (separator !== 93 || n < count - 1) return false;
  }
  return true;
}

function isEscaped(text: string, quote: number): boolean {
  let backslashes = 0;
  for (let i = quote - 1; text.charCodeAt(i) === 92; i--) backslashes++;
  return backslashes % 2 === 1;
}
