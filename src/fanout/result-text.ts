// A subscription result made as its JSON text first (a replayed change's, spliced from its
// snapshot: row-splice.ts). Its frame is that text (protocol.ts); its object is parsed from the
// text only when something reads it (an SSE event, a callback's `next`, a test).
import type { ExecutionResult } from 'graphql';
import { hiddenSlot } from '../hidden.js';

const texts = hiddenSlot<string>();

/**
 * The result whose payload text is `text`: `data` an own, enumerable property (a getter, so JSON,
 * spreads and reads see it as any result's), parsed once when first read.
 */
export function resultOfText(text: string): ExecutionResult {
  let data: ExecutionResult['data'];
  const result: ExecutionResult = {
    get data() {
      data ??= (JSON.parse(text) as ExecutionResult).data;
      return data;
    },
  };
  texts.set(result, text);
  return result;
}

/** The text of a result made by `resultOfText` (undefined for any other). */
export function textOfResult(result: ExecutionResult): string | undefined {
  return texts.get(result);
}
