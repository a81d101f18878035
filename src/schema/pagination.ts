import { GraphQLError } from 'graphql';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface Cursor {
  createdAt: number;
  id: string;
}

export function encodeCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(`${row.createdAt.getTime()}:${row.id}`).toString('base64url');
}

function badInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'VALIDATION' } });
}

export function decodeCursor(cursor: string | null | undefined): Cursor | null {
  if (cursor == null) return null;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  const separator = decoded.indexOf(':');
  const createdAt = Number(decoded.slice(0, separator));
  const id = decoded.slice(separator + 1);
  if (separator <= 0 || !Number.isSafeInteger(createdAt) || id.length === 0) {
    throw badInput(`after: "${cursor}" is not a cursor this API gave out`);
  }
  return { createdAt, id };
}

export function pageSize(first: number | null | undefined): number {
  if (first == null) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw badInput(`first: must be between 0 and ${MAX_PAGE_SIZE}`);
  }
  return first;
}

export const DEFAULT_HISTORY_LENGTH = 100;
export const MAX_HISTORY_LENGTH = 1000;

/** `history(last:)`: how many of the latest events, refused outside 0..MAX_HISTORY_LENGTH. */
export function historyLength(last: number | null | undefined): number {
  if (last == null) return DEFAULT_HISTORY_LENGTH;
  if (!Number.isInteger(last) || last < 0 || last > MAX_HISTORY_LENGTH) {
    throw badInput(`last: must be between 0 and ${MAX_HISTORY_LENGTH}`);
  }
  return last;
}

/** Builds a Relay connection from a page fetched with one extra row. */
export function toConnection<T extends { createdAt: Date; id: string }>(rows: T[], first: number) {
  const nodes = rows.slice(0, first);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: rows.length > first,
      hasPreviousPage: false,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
