// WebSocket text frames written by hand: the `next` frames one socket is handed in a tick go out
// as one Buffer and one write of its TCP socket (graphql-ws.ts), where `ws` wrote two chunks a
// frame into the corked socket (a header Buffer and the string, two option objects, a stream
// buffer entry each, and `writev` then encoding each string again in C++): ≈ 0.6 µs of a replayed
// change's ≈ 6.5 (bench/README.md, "Catch-up", 2026-12-06 session).
//
// What `ws`' Sender writes for `socket.send(text)` on a server without extensions (this one
// negotiates none): a final, unmasked text frame (RFC 6455 §5.2), the same bytes. The frames are
// held only until the end of the tick in which they were handed over, and the connection writes
// them before anything else it writes (graphql-ws.ts); `ws` writes on its own (a pong, a close
// reply, the heartbeat's ping) only from an event of the socket or a timer, a tick of its own,
// after which nothing is held: the order on the wire is the order of the sends.
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** What waits for frames to be written (an operation past its socket's mark: protocol.ts). */
export interface FramesWaiter {
  sent(error?: Error): void;
}

/**
 * Writes `frames` to `socket`'s TCP socket in one write; `waiters` are told once it is flushed
 * (a failed write is theirs only while the socket is open: a closing socket ends them anyway).
 */
export function writeTextFrames(socket: WebSocket, frames: readonly string[], waiters: FramesWaiter[] | null): void {
  const raw = (socket as unknown as { _socket?: Duplex })._socket;
  if (socket.readyState !== socket.OPEN || !raw || raw.destroyed) {
    // Closing: nothing goes out, as `ws` sends nothing after its close frame.
    if (waiters) for (const waiter of waiters) waiter.sent();
    return;
  }
  if (waiters === null) raw.write(textFrames(frames));
  else {
    raw.write(textFrames(frames), (error) => {
      const failed = error && socket.readyState === socket.OPEN ? error : undefined;
      for (const waiter of waiters) waiter.sent(failed);
    });
  }
}

/** Bytes of a frame's header for `length` bytes of payload. */
function headerBytes(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** The text frames of `frames`, one after the other, in one Buffer. */
export function textFrames(frames: readonly string[]): Buffer {
  const lengths = new Array<number>(frames.length);
  let total = 0;
  for (let i = 0; i < frames.length; i++) {
    const length = Buffer.byteLength(frames[i] as string);
    lengths[i] = length;
    total += headerBytes(length) + length;
  }
  const bytes = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < frames.length; i++) {
    const length = lengths[i] as number;
    bytes[at++] = 0x81; // FIN, text
    if (length < 126) {
      bytes[at++] = length;
    } else if (length < 65536) {
      bytes[at++] = 126;
      bytes.writeUInt16BE(length, at);
      at += 2;
    } else {
      bytes[at++] = 127;
      bytes.writeUInt32BE(Math.floor(length / 2 ** 32), at);
      bytes.writeUInt32BE(length >>> 0, at + 4);
      at += 8;
    }
    at += bytes.write(frames[i] as string, at, length, 'utf8');
  }
  return bytes;
}
