import { describe, expect, it } from 'vitest';
import { PollSchedule } from '../src/lifecycle/schedule.js';

const BASE = 60_000;
const JITTER = 0.2;

function slotAfter(schedule: PollSchedule, at: Date): number {
  const slot = schedule.afterChange('livestream', 'LIVE', at);
  if (!slot.nextPollAt) throw new Error('a live stream left the schedule');
  expect(slot.pollIntervalMs).toBe(BASE);
  return slot.nextPollAt.getTime() - at.getTime();
}

describe('the poll slot after a change', () => {
  it('is one base interval away, spread by at most the jitter, and none for a final stream', () => {
    const schedule = new PollSchedule({ intervalMs: BASE, jitter: JITTER });
    for (let i = 0; i < 200; i++) {
      const wait = slotAfter(schedule, new Date(1_800_000_000_000 + i));
      expect(wait).toBeGreaterThanOrEqual(BASE * (1 - JITTER));
      expect(wait).toBeLessThanOrEqual(BASE * (1 + JITTER));
    }
    expect(schedule.afterChange('livestream', 'STOPPED', new Date())).toEqual({
      nextPollAt: null,
      pollIntervalMs: null,
    });
  });

  it('is the same spread for changes in one millisecond (one group commit: side by side in the index)', () => {
    const schedule = new PollSchedule({ intervalMs: BASE, jitter: JITTER });
    const at = new Date(1_800_000_000_123);
    const waits = Array.from({ length: 7 }, () => slotAfter(schedule, at));
    expect(new Set(waits).size).toBe(1);
    // Later in the same millisecond (the group's members are applied one after the other).
    expect(slotAfter(schedule, new Date(at.getTime()))).toBe(waits[0]);
  });

  it('draws anew in each millisecond, so streams that change apart drift apart over the whole spread', () => {
    const schedule = new PollSchedule({ intervalMs: BASE, jitter: JITTER });
    const waits = Array.from({ length: 1000 }, (_, i) => slotAfter(schedule, new Date(1_800_000_000_000 + i)));
    // 1,000 uniform draws: the chance that none falls in the outer tenth on either side is 0.9^1000.
    expect(Math.min(...waits)).toBeLessThan(BASE * (1 - 0.8 * JITTER));
    expect(Math.max(...waits)).toBeGreaterThan(BASE * (1 + 0.8 * JITTER));
    expect(new Set(waits).size).toBeGreaterThan(900);
  });

  it('has no spread with no jitter configured', () => {
    const schedule = new PollSchedule({ intervalMs: BASE, jitter: 0 });
    for (let i = 0; i < 50; i++) expect(slotAfter(schedule, new Date(1_800_000_000_000 + i * 7))).toBe(BASE);
  });
});

describe('the backed-off interval after a poll', () => {
  it('draws each time, within the jitter', () => {
    const schedule = new PollSchedule({ intervalMs: BASE, jitter: JITTER });
    const waits = Array.from({ length: 200 }, () => schedule.jittered(4 * BASE));
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(4 * BASE * (1 - JITTER));
      expect(wait).toBeLessThanOrEqual(4 * BASE * (1 + JITTER));
    }
    expect(new Set(waits).size).toBeGreaterThan(150);
  });
});
