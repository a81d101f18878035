import { and, count, desc, eq, inArray } from 'drizzle-orm';
import type { ProviderId } from '../../domain/status.js';
import type { RoomAutomationRecord } from '../../domain/types.js';
import { automationChanges } from '../mappers.js';
import { roomAutomations, roomPeers, roomSessions } from '../tables.js';
import type { Db } from './database.js';

/** room_peers (presence of real peers) and room_automations (recording rules). */
export class SqliteRooms {
  constructor(private readonly db: Db) {}

  addPeer(provider: ProviderId, roomId: string, peerId: string, at: Date): void {
    this.db.insert(roomPeers).values({ provider, roomId, peerId, joinedAt: at }).onConflictDoNothing().run();
  }

  removePeer(provider: ProviderId, roomId: string, peerId: string): void {
    this.db
      .delete(roomPeers)
      .where(and(eq(roomPeers.provider, provider), eq(roomPeers.roomId, roomId), eq(roomPeers.peerId, peerId)))
      .run();
  }

  clearPeers(provider: ProviderId, roomId: string): void {
    this.db
      .delete(roomPeers)
      .where(and(eq(roomPeers.provider, provider), eq(roomPeers.roomId, roomId)))
      .run();
  }

  countPeers(provider: ProviderId, roomId: string): number {
    return (
      this.db
        .select({ n: count() })
        .from(roomPeers)
        .where(and(eq(roomPeers.provider, provider), eq(roomPeers.roomId, roomId)))
        .get()?.n ?? 0
    );
  }

  upsertAutomation(rule: RoomAutomationRecord): void {
    this.db
      .insert(roomAutomations)
      .values(rule)
      .onConflictDoUpdate({
        target: [roomAutomations.provider, roomAutomations.roomId],
        set: automationChanges(rule),
      })
      .run();
  }

  getAutomation(provider: ProviderId, roomId: string): RoomAutomationRecord | undefined {
    return this.automationsFor([roomId]).find((rule) => rule.provider === provider);
  }

  automationsFor(roomIds: readonly string[]): RoomAutomationRecord[] {
    if (roomIds.length === 0) return [];
    return this.db
      .select()
      .from(roomAutomations)
      .where(inArray(roomAutomations.roomId, [...roomIds]))
      .orderBy(desc(roomAutomations.updatedAt))
      .all()
      .map((row) => ({
        ...row,
        provider: row.provider as ProviderId,
        recordOn: row.recordOn as RoomAutomationRecord['recordOn'],
      }));
  }

  trackSession(provider: ProviderId, roomId: string, sessionId: string, at: Date): void {
    this.db
      .insert(roomSessions)
      .values({ provider, roomId, sessionId, startedAt: at })
      .onConflictDoUpdate({ target: [roomSessions.provider, roomSessions.roomId], set: { sessionId, startedAt: at } })
      .run();
  }

  currentSession(provider: ProviderId, roomId: string): { sessionId: string; startedAt: Date } | null {
    return (
      this.db
        .select({ sessionId: roomSessions.sessionId, startedAt: roomSessions.startedAt })
        .from(roomSessions)
        .where(and(eq(roomSessions.provider, provider), eq(roomSessions.roomId, roomId)))
        .get() ?? null
    );
  }
}
