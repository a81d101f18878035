import { and, type Column, eq, inArray, isNull, type SQL, sql } from 'drizzle-orm';
import type { ProviderId, StreamKind } from '../domain/status.js';
import type { AssetInput, RoomAutomationRecord, StatusEventRecord } from '../domain/types.js';
import type { CallbackRegistration, PollClaim, RegisteredCaller } from './types.js';

/**
 * The rows both engines read and write through drizzle, mapped to and from records once: their
 * tables are built from one description (schema.ts), so a row has the same fields on both (times
 * as `Date`, booleans as booleans, positions as numbers).
 */

/** A callback_subscriptions row as the store writes it. */
export function registrationRow(registration: CallbackRegistration, owner: string, leaseUntil: Date) {
  const { query, operationName, variables } = registration;
  return {
    id: registration.id,
    callbackUrl: registration.callbackUrl,
    verifier: registration.verifier,
    heartbeatIntervalMs: registration.heartbeatIntervalMs,
    operation: JSON.stringify({ query, operationName, variables }),
    caller: JSON.stringify(registration.caller),
    position: registration.position,
    leaseOwner: owner,
    leaseUntil,
    createdAt: registration.createdAt,
  };
}

type RegistrationRow = Omit<ReturnType<typeof registrationRow>, 'leaseOwner' | 'leaseUntil'>;

export function toRegistration(row: RegistrationRow): CallbackRegistration {
  const operation = JSON.parse(row.operation) as Pick<CallbackRegistration, 'query' | 'operationName' | 'variables'>;
  return {
    id: row.id,
    callbackUrl: row.callbackUrl,
    verifier: row.verifier,
    heartbeatIntervalMs: row.heartbeatIntervalMs,
    query: operation.query,
    operationName: operation.operationName ?? null,
    variables: operation.variables ?? null,
    caller: JSON.parse(row.caller) as RegisteredCaller,
    position: row.position,
    createdAt: row.createdAt,
  };
}

/** The fields of a stream row a poll claim returns (`nextPollAt` to order them, then dropped). */
const CLAIMED = [
  'id',
  'provider',
  'roomId',
  'externalId',
  'sessionId',
  'status',
  'version',
  'nextPollAt',
  'pollIntervalMs',
  'createdAt',
  'updatedAt',
] as const;

/** The columns of `table` a poll claim returns (drizzle's `returning` selection). */
export function claimedColumns<T extends Record<(typeof CLAIMED)[number], unknown>>(
  table: T,
): Pick<T, (typeof CLAIMED)[number]> {
  return Object.fromEntries(CLAIMED.map((field) => [field, table[field]])) as Pick<T, (typeof CLAIMED)[number]>;
}

type ClaimedRow = Omit<PollClaim, 'kind' | 'provider'> & { provider: string; nextPollAt: Date | null };

/** Claimed rows, oldest due first: RETURNING follows no ORDER BY, and nobody should wait behind the budget twice. */
export function toPollClaims(kind: StreamKind, rows: ClaimedRow[]): PollClaim[] {
  return rows
    .sort((a, b) => (a.nextPollAt?.getTime() ?? 0) - (b.nextPollAt?.getTime() ?? 0))
    .map(({ nextPollAt: _due, ...row }) => ({ ...row, kind, provider: row.provider as ProviderId }));
}

/** What a room's automation rule changes when it is set again (its key stays). */
export function automationChanges(rule: RoomAutomationRecord): Omit<RoomAutomationRecord, 'provider' | 'roomId'> {
  const { provider: _provider, roomId: _roomId, ...changes } = rule;
  return changes;
}

type EventRow = Omit<StatusEventRecord, 'streamKind' | 'source'> & { streamKind: string; source: string };

/** History rows (without their snapshots) as records. */
export function toEventRecords(rows: EventRow[]): StatusEventRecord[] {
  return rows.map((row) => ({
    ...row,
    streamKind: row.streamKind as StreamKind,
    source: row.source as StatusEventRecord['source'],
  }));
}

/** A recording_assets row's values for an asset a vendor reported (its id and creation time aside). */
export function assetValues(recordingId: string, asset: AssetInput) {
  return {
    recordingId,
    externalId: asset.externalId ?? null,
    type: asset.type,
    path: asset.path ?? null,
    size: asset.size ?? null,
    durationSeconds: asset.durationSeconds ?? null,
    url: asset.url ?? null,
    urlExpiresAt: asset.urlExpiresAt ?? null,
  };
}

interface EventColumns {
  id: Column;
  streamKind: Column;
  streamId: Column;
}

/**
 * The selection and condition of a subquery numbering each stream's history newest first
 * (`rank`): the latest `last` per stream are those ranked at most `last`.
 */
export function rankedHistory<E extends EventColumns>(
  events: E,
  kind: StreamKind,
  streamIds: readonly string[],
): { fields: { id: E['id']; rank: SQL.Aliased<number> }; where: SQL | undefined } {
  return {
    fields: {
      id: events.id,
      rank: sql<number>`row_number() over (partition by ${events.streamId} order by ${events.id} desc)`.as('rank'),
    },
    where: and(eq(events.streamKind, kind), inArray(events.streamId, [...streamIds])),
  };
}

interface AssetColumns {
  recordingId: Column;
  externalId: Column;
  path: Column;
}

/**
 * The row an asset report updates: the one with its vendor id (`byExternalId`, when it has one),
 * else the one at its path (`byPath`, when it has one: a row without a vendor id yet, if the
 * report brings one). Neither: the report is a new asset.
 */
export function assetMatches(assets: AssetColumns, recordingId: string, asset: AssetInput) {
  return {
    byExternalId:
      asset.externalId == null
        ? undefined
        : and(eq(assets.recordingId, recordingId), eq(assets.externalId, asset.externalId)),
    byPath:
      asset.path == null
        ? undefined
        : and(
            eq(assets.recordingId, recordingId),
            eq(assets.path, asset.path),
            asset.externalId == null ? undefined : isNull(assets.externalId),
          ),
  };
}
