import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { connectPair } from './tcp-proxy.js';

/**
 * A TCP proxy in front of a server (PostgreSQL) whose answers reach the client `delayMs` late, as
 * over a slow network, and which counts the client's round trips: a flight is what the client
 * sends before it hears anything more. With a delay longer than the client's own work between two
 * writes, the flights are the round trips the client waited for.
 */
export interface SlowProxy {
  port: number;
  /** The client's flights on every connection since the last `reset`. */
  readonly flights: number;
  /** The client's writes (chunks read from it) since the last `reset`. */
  readonly writes: number;
  reset(): void;
  close(): Promise<void>;
}

export async function startSlowProxy(target: { host: string; port: number }, delayMs: number): Promise<SlowProxy> {
  const sockets = new Set<Socket>();
  let flights = 0;
  let writes = 0;
  const server = createServer((client) => {
    const upstream = connectPair(client, target, sockets);
    // Answered since the client last wrote: its next write starts a flight.
    let answered = true;
    client.on('data', (chunk: Buffer) => {
      if (answered) flights++;
      writes++;
      answered = false;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      setTimeout(() => {
        answered = true;
        if (!client.destroyed) client.write(chunk);
      }, delayMs);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => setTimeout(() => client.end(), delayMs));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    get flights() {
      return flights;
    },
    get writes() {
      return writes;
    },
    reset() {
      flights = 0;
      writes = 0;
    },
    async close() {
      const closed = once(server, 'close');
      server.close();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
