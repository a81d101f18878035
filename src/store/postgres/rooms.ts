import { and, count, desc, eq, inArray } from 'drizzle-orm';
import type { ProviderId } from '../../domain/status.js';
import type { RoomAutomationRecord } from '../../domain/types.js';
import { automationChanges } from '../mappers.js';
import { roomAutomations, roomPeers, roomSessions } from './tables.js';
import type { Executor } from './transactions.js';

/** room_peers (presence of real peers) and room_automations (recording rules). */
export class PgRooms {
  constructor(private readonly x: () => Executor) {}

  async addPeer(provider: ProviderId, roomId: string, peerId: string, at: Date): Promise<void> {
    await this.x().insert(roomPeers).values({ provider, roomId, peerId, joinedAt: at }).onConflictDoNothing();
  }

  async removePeer(provider: ProviderId, roomId: string, peerId: string): Promise<void> {
    await this.x()
      .delete(roomPeers)
      .where(and(eq(roomPeers.provider, provider), eq(roomPeers.roomId, roomId), eq(roomPeers.peerId, peerId)));
  }

  async clearPeers(provider: ProviderId, roomId: string): Promise<void> {
    await this.x()
      .delete(roomPeers)
      .where(and(eq(roomPeers.provider, provider), eq(roomPeers.roomId, roomId)));
  }

  async countPeers(provider: ProviderId, roomId: string): Promise<number> {
    const rows = await this.x()
      .select({ n: count() })
      .from(roomPeers)
      .where(and(eq(roomPeers.provider, provider), eq(roomPeers.roomId, roomId)));
    return rows[0]?.n ?? 0;
  }

  async upsertAutomation(rule: RoomAutomationRecord): Promise<void> {
    await this.x()
      .insert(roomAutomations)
      .values(rule)
      .onConflictDoUpdate({
        target: [roomAutomations.provider, roomAutomations.roomId],
        set: automationChanges(rule),
      });
  }

  async getAutomation(provider: ProviderId, roomId: string): Promise<RoomAutomationRecord | undefined> {
    return (await this.automationsFor([roomId])).find((rule) => rule.provider === provider);
  }

  async automationsFor(roomIds: readonly string[]): Promise<RoomAutomationRecord[]> {
    if (roomIds.length === 0) return [];
    const rows = await this.x()
      .select()
      .from(roomAutomations)
      .where(inArray(roomAutomations.roomId, [...roomIds]))
      .orderBy(desc(roomAutomations.updatedAt));
    return rows.map((row) => ({
      ...row,
      provider: row.provider as ProviderId,
      recordOn: row.recordOn as RoomAutomationRecord['recordOn'],
    }));
  }

  async trackSession(provider: ProviderId, roomId: string, sessionId: string, at: Date): Promise<void> {
    await this.x()
      .insert(roomSessions)
      .values({ provider, roomId, sessionId, startedAt: at })
      .onConflictDoUpdate({ target: [roomSessions.provider, roomSessions.roomId], set: { sessionId, startedAt: at } });
  }

  async currentSession(provider: ProviderId, roomId: string): Promise<{ sessionId: string; startedAt: Date } | null> {
    const rows = await this.x()
      .select({ sessionId: roomSessions.sessionId, startedAt: roomSessions.startedAt })
      .from(roomSessions)
      .where(and(eq(roomSessions.provider, provider), eq(roomSessions.roomId, roomId)));
    return rows[0] ?? null;
  }
}
