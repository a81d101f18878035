import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { composeServices } from '@apollo/composition';
import {
  createGatewayRuntime,
  type GatewayConfig,
  type GatewayRuntime,
  getGraphQLWSOptions,
} from '@graphql-hive/gateway';
import { parse } from 'graphql';
import { type Extra, useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { gql } from '../helpers.js';

/** What a transport entry of Hive Gateway's configuration holds (`transportEntries.<subgraph>`). */
export type TransportEntry = NonNullable<GatewayConfig<Record<string, unknown>>['transportEntries']>[string];

export interface RunningGateway {
  runtime: GatewayRuntime;
  port: number;
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

/** The supergraph of our subgraph alone, composed by @apollo/composition from its `_service { sdl }`. */
export async function composeAlone(url: string, headers: Record<string, string>): Promise<string> {
  const sdl = (await gql(url, '{ _service { sdl } }', undefined, headers)).data?._service.sdl as string;
  const composed = composeServices([{ name: 'livestreams', typeDefs: parse(sdl), url }]);
  if (composed.errors) throw new Error(composed.errors.map((error) => error.message).join('\n'));
  return composed.supergraphSdl;
}

/**
 * Hive Gateway in process, served over HTTP and graphql-ws the way its CLI serves it, with
 * `livestreams` reached through `entry`. The caller's Authorization header goes on to our
 * subgraph's requests. `extra` is merged into the gateway's configuration (pubsub, webhooks).
 */
export async function startGateway(
  supergraph: string,
  entry: TransportEntry,
  extra: Partial<GatewayConfig<Record<string, unknown>>> = {},
  port = 0,
): Promise<RunningGateway> {
  const runtime = createGatewayRuntime({
    supergraph,
    logging: process.env.TEST_GATEWAY_LOG ? 'debug' : false,
    transportEntries: { livestreams: entry },
    propagateHeaders: {
      fromClientToSubgraphs: ({ request, subgraphName }) =>
        subgraphName === 'livestreams' ? { authorization: request.headers.get('authorization') } : {},
    },
    ...extra,
  } as GatewayConfig<Record<string, unknown>>);
  const server = createServer(runtime);
  const wss = new WebSocketServer({ server, path: runtime.graphqlEndpoint });
  const disposable = useServer(
    getGraphQLWSOptions<Record<string, unknown>, Extra>(runtime, (ctx) => ({
      req: ctx.extra.request,
      socket: ctx.extra.socket,
    })),
    wss,
  );
  const bound = await listen(server, port);
  return {
    runtime,
    port: bound,
    url: `http://127.0.0.1:${bound}/graphql`,
    wsUrl: `ws://127.0.0.1:${bound}/graphql`,
    async close() {
      await disposable.dispose();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.dispose();
    },
  };
}

export function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}
