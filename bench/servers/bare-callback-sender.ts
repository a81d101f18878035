// The honest floor of a callback change (bench/profile-callbacks.ts): a bare node:http client in its
// own process POSTing one `next` body per subscription to the receiver, through a keep-alive agent
// with at most `sockets` requests in flight (the service's sender holds 64 per router), each answer
// read before its slot is reused. No GraphQL, no retries, no timeouts: only JSON and HTTP.
import { randomUUID } from 'node:crypto';
import http from 'node:http';

process.on('message', async (message: { type: string; id: number; command: string; args?: any }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'send') {
    const { port, count, marker, sockets } = message.args as {
      port: number;
      count: number;
      marker: string;
      sockets: number;
    };
    const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
    const ids = Array.from({ length: count }, () => randomUUID());
    const payload = {
      data: { livestreamChanged: { id: 'livestream-id', status: 'STARTING', vendorStatus: marker, version: 7 } },
    };
    const before = process.cpuUsage();
    const began = performance.timeOrigin + performance.now();
    let next = 0;
    const worker = async () => {
      while (next < count) {
        const id = ids[next++] as string;
        // Serialised per message, as a sender must (each carries its subscription's id).
        const body = JSON.stringify({ kind: 'subscription', action: 'next', id, verifier: 'bench', payload });
        await new Promise<void>((resolve) => {
          const request = http.request(
            `http://127.0.0.1:${port}/callback/${id}`,
            {
              method: 'POST',
              agent,
              headers: {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(body),
                'subscription-protocol': 'callback/1.0',
              },
            },
            (response) => {
              response.resume();
              response.on('end', resolve);
            },
          );
          request.on('error', () => resolve());
          request.end(body);
        });
      }
    };
    await Promise.all(Array.from({ length: sockets }, worker));
    const cpu = process.cpuUsage(before);
    agent.destroy();
    result = { startedAt: began, cpuMs: (cpu.user + cpu.system) / 1000 };
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.send?.({ type: 'ready', port: 1 });
