// Baseline for query throughput: a bare graphql-yoga server answering the same JSON from memory.
import { createServer } from 'node:http';
import { createSchema, createYoga } from 'graphql-yoga';

let livestreams: unknown[] = [];
const yoga = createYoga({
  logging: false,
  graphiql: false,
  schema: createSchema({
    typeDefs: /* GraphQL */ `
      type Ingest { rtmpUrl: String streamKey: String whipUrl: String }
      type Livestream {
        id: ID! provider: String! roomId: String! externalId: String status: String! vendorStatus: String
        version: Int! playbackUrl: String ingest: Ingest failureReason: String
        startedAt: String stoppedAt: String createdAt: String! updatedAt: String!
      }
      type Query { activeLivestreams: [Livestream!]! }
    `,
    resolvers: { Query: { activeLivestreams: () => livestreams } },
  }),
});
const server = createServer(yoga);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('message', (message: { type: string; id: number; command: string; args?: unknown }) => {
  if (message.type !== 'call') return;
  if (message.command === 'load') livestreams = message.args as unknown[];
  if (message.command === 'memory') globalThis.gc?.();
  process.send?.({
    type: 'result',
    id: message.id,
    result: message.command === 'memory' ? process.memoryUsage() : true,
  });
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
