// A subscription result made as its JSON text first (a replayed change's, spliced from its
// snapshot: row-splice.ts). Its frame is that text (protocol.ts); its `data` is parsed from the
// text only when something reads it (an SSE event, a callback's `next`, a test).
import type { ExecutionResult } from 'graphql';

/**
 * `data` is a getter and JSON goes through `toJSON`, so reads and JSON see the result any other
 * result would be; a spread does not (src/http/sse.ts reads `data` into its copy). A class, not an
 * object literal with a getter: that (a closure and an accessor per result) cost more than the
 * JSON it saves (bench/README.md, "Catch-up: the splice path", 2026-12-05, late session).
 *
 * It also keeps what any other result keeps in hidden slots (hidden.ts): its event's position
 * (event-ids.ts) and its `next` frame (protocol.ts). As fields of its own, declared, every such
 * result has one shape; a slot adds a private field of another class to each result, a shape
 * change and a constructor call each, ≈ 4% of a replay's CPU (bench/README.md, "Catch-up",
 * 2026-12-06, morning session).
 */
class TextResult {
  readonly #text: string;
  #data: ExecutionResult['data'] = undefined;
  #position = 0;
  #framePrefix: string | undefined = undefined;
  #frame = '';

  constructor(text: string) {
    this.#text = text;
  }

  get data(): ExecutionResult['data'] {
    this.#data ??= (JSON.parse(this.#text) as ExecutionResult).data;
    return this.#data;
  }

  toJSON(): ExecutionResult {
    return { data: this.data };
  }

  static textOf(result: object): string | undefined {
    return #text in result ? (result as TextResult).#text : undefined;
  }

  static frameOf(result: object, prefix: string): string | undefined {
    if (!(#text in result)) return undefined;
    const known = result as TextResult;
    if (known.#framePrefix !== prefix) {
      known.#framePrefix = prefix;
      known.#frame = `${prefix}${known.#text}}`;
    }
    return known.#frame;
  }

  static tag(result: object, position: number): boolean {
    if (!(#text in result)) return false;
    (result as TextResult).#position = position;
    return true;
  }

  static positionOf(result: object): number | undefined {
    if (!(#text in result)) return undefined;
    const position = (result as TextResult).#position;
    return position > 0 ? position : undefined;
  }
}

/** The result whose payload text is `text`. */
export function resultOfText(text: string): ExecutionResult {
  return new TextResult(text);
}

/** The text of a result made by `resultOfText` (undefined for any other). */
export function textOfResult(result: ExecutionResult): string | undefined {
  return TextResult.textOf(result);
}

/**
 * The `next` frame of a result made by `resultOfText` whose frame starts with `prefix` (made once
 * for every subscriber sending it with that prefix); undefined for any other result.
 */
export function frameOfTextResult(result: ExecutionResult, prefix: string): string | undefined {
  return TextResult.frameOf(result, prefix);
}

/** Keeps `position` (> 0) as the event position of a result made by `resultOfText`; false for any other. */
export function tagTextResult(result: object, position: number): boolean {
  return TextResult.tag(result, position);
}

/** The event position kept by `tagTextResult`, if any. */
export function positionOfTextResult(result: object): number | undefined {
  return TextResult.positionOf(result);
}
