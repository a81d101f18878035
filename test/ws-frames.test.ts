import { expect, it } from 'vitest';
import * as ws from 'ws';
import { textFrames } from '../src/fanout/ws-frames.js';

// The operation frames of a tick are written by hand (src/fanout/ws-frames.ts): they must be the
// very bytes `ws` writes for `socket.send(text)` on a server (final, unmasked text frames), at
// every payload length form (7-bit, 16-bit, 64-bit) and for text whose UTF-8 is longer than it.
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } };
const SERVER = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false };

it('are the bytes ws writes for each text, one after the other', () => {
  const texts = [
    '',
    '{"id":"1","type":"next","payload":{"data":{}}}',
    'x'.repeat(125),
    'x'.repeat(126),
    'é'.repeat(63), // 63 characters, 126 bytes
    ' "quoted" \\ back\nslash é 😀 \u2028',
    'y'.repeat(65_535),
    'y'.repeat(65_536),
    '😀'.repeat(20_000), // 80,000 bytes
  ];
  const expected = Buffer.concat(texts.flatMap((text) => Sender.frame(Buffer.from(text), SERVER)));
  expect(textFrames(texts).equals(expected)).toBe(true);
  for (const text of texts) {
    expect(textFrames([text]).equals(Buffer.concat(Sender.frame(Buffer.from(text), SERVER)))).toBe(true);
  }
});
