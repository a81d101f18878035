import { describe, expect, it } from 'vitest';
import { decodeChangeCursor, encodeChangeCursor } from '../src/domain/cursor.js';

describe('changeCursor', () => {
  it('is base64url of "v1:<position>" for every position, and decodes back to it', () => {
    const positions = [0, 1, 9, 10, 99, 100, 999, 1000, 123_456_789, 2 ** 40 + 7, Number.MAX_SAFE_INTEGER];
    for (let position = 0; position < 20_000; position++) positions.push(position);
    for (const position of positions) {
      const cursor = encodeChangeCursor(position);
      expect(cursor).toBe(Buffer.from(`v1:${position}`).toString('base64url'));
      expect(decodeChangeCursor(cursor)).toBe(position);
    }
  });

  it('refuses what it did not give out', () => {
    for (const cursor of ['', 'djE6', 'djE6LTE', Buffer.from('v1:01').toString('base64url'), 'djE6MQ==', 'x']) {
      expect(() => decodeChangeCursor(cursor)).toThrow(/not a change cursor/);
    }
  });
});
