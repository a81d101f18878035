// A subscription result made as its JSON text first (a replayed change's, spliced from its
// snapshot: row-splice.ts). Its frame is that text (protocol.ts); its `data` is parsed from the
// text only when something reads it (an SSE event, a callback's `next`, a test).
import type { ExecutionResult } from 'graphql';

/**
 * `data` is a getter and JSON goes through `toJSON`, so reads and JSON see the result any other
 * result would be; a spread does not (src/http/sse.ts reads `data` into its copy). A class, not an
 * object literal with a getter: that (a closure and an accessor per result) cost more than the
 * JSON it saves (bench/README.md, "Catch-up: the splice path", 2026-12-05, late session).
 */
class TextResult {
  readonly #text: string;
  #data: ExecutionResult['data'] = undefined;

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
}

/** The result whose payload text is `text`. */
export function resultOfText(text: string): ExecutionResult {
  return new TextResult(text);
}

/** The text of a result made by `resultOfText` (undefined for any other). */
export function textOfResult(result: ExecutionResult): string | undefined {
  return TextResult.textOf(result);
}
