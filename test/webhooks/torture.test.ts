import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudflareFake, startCloudflareFake } from '../fakes/cloudflare.js';
import { type DyteFake, startDyteFake } from '../fakes/dyte.js';
import { LivekitFake } from '../fakes/livekit.js';
import {
  type Collected,
  collect,
  gql,
  START_LIVESTREAM,
  START_RECORDING,
  startServer,
  type TestServer,
  wsClient,
} from '../helpers.js';
import {
  completedWithin,
  expectVersionsIncreasing,
  LIVESTREAM_WATCH,
  RECORDING_READ,
  RECORDING_WATCH,
  storedTrace,
} from './support.js';

/**
 * Over a thousand deliveries to three vendors' routes at once: every real one redelivered several
 * times, neighbours swapped, forged / tampered / unsigned copies (claiming the stream failed) mixed
 * in. In the end every stream is in its true final state and every subscriber saw versions only grow.
 */

const STREAMS_PER_KIND = 4;
const CONCURRENCY = 12;

type Vendor = 'CLOUDFLARE' | 'DYTE' | 'LIVEKIT';
type Kind = 'livestream' | 'recording';

interface Delivery {
  vendor: Vendor;
  payload: Record<string, any>;
  /** RealtimeKit delivery id; LiveKit's is the body's `id`. */
  uuid?: string;
  spoil?: 'forged' | 'tampered' | 'unsigned';
}

interface Tracked {
  vendor: Vendor;
  kind: Kind;
  id: string;
  externalId: string;
  roomId: string;
  final: string;
  seen: Collected<any>;
}

/** A small seeded generator, so a failing run can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('webhook torture', () => {
  let cloudflare: CloudflareFake;
  let dyte: DyteFake;
  let livekit: LivekitFake;
  let server: TestServer;
  const client = { current: null as ReturnType<typeof wsClient> | null };

  beforeAll(async () => {
    cloudflare = await startCloudflareFake();
    dyte = await startDyteFake();
    livekit = await LivekitFake.start();
    server = await startServer({
      ...cloudflare.webhookEnv,
      ...dyte.webhookEnv,
      LIVEKIT_URL: livekit.url,
      LIVEKIT_API_KEY: livekit.apiKey,
      LIVEKIT_API_SECRET: livekit.apiSecret,
      MAX_SUBSCRIPTIONS_PER_CONNECTION: '200',
    });
  });

  afterAll(async () => {
    await client.current?.dispose();
    await server?.cleanup();
    await Promise.all([cloudflare?.close(), dyte?.close(), livekit?.close()]);
  });

  it('ends every stream in its true final state through 1,000+ hostile deliveries', async () => {
    const seed = Number(process.env.TORTURE_SEED ?? Date.now() % 1_000_000);
    const rand = random(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
    client.current = wsClient(server.wsUrl);
    const ws = client.current;

    // ── start every stream and watch it ─────────────────────────────────────
    const tracked: Tracked[] = [];
    for (const vendor of ['CLOUDFLARE', 'DYTE', 'LIVEKIT'] as const) {
      for (const kind of ['livestream', 'recording'] as const) {
        for (let i = 0; i < STREAMS_PER_KIND; i++) {
          const roomId = `${vendor.toLowerCase()}-${kind}-${i}-${seed}`;
          const mutation = kind === 'livestream' ? START_LIVESTREAM : START_RECORDING;
          const { data, errors } = await gql(server.url, mutation, { input: { provider: vendor, roomId } });
          expect(errors).toBeUndefined();
          const stream = kind === 'livestream' ? data?.startLivestream.livestream : data?.startRecording.recording;
          expect(stream?.status, JSON.stringify(data)).toBe('STARTING');
          const seen = collect(ws, kind === 'livestream' ? LIVESTREAM_WATCH : RECORDING_WATCH, { id: stream.id });
          tracked.push({
            vendor,
            kind,
            id: stream.id,
            externalId: stream.externalId,
            roomId,
            final: kind === 'livestream' ? 'STOPPED' : 'COMPLETED',
            seen,
          });
        }
      }
    }
    await Promise.all(tracked.map((t) => t.seen.waitFor(1)));

    // ── each stream's true news, as the vendor would send it, in order ──────
    const sequences: { stream: Tracked; deliveries: Delivery[]; keepOrder: boolean }[] = [];
    for (const stream of tracked) {
      const deliveries: Delivery[] = [];
      const add = (payload: Record<string, any>) =>
        deliveries.push({ vendor: stream.vendor, payload, uuid: crypto.randomUUID() });
      if (stream.vendor === 'LIVEKIT') {
        const id = stream.externalId;
        add(livekit.egressWebhook('egress_started', id));
        livekit.setStatus(id, 'EGRESS_ACTIVE');
        add(livekit.egressWebhook('egress_updated', id));
        if (stream.kind === 'recording') {
          livekit.setStatus(id, 'EGRESS_ENDING');
          add(livekit.egressWebhook('egress_updated', id));
        }
        livekit.setStatus(id, 'EGRESS_COMPLETE');
        add(livekit.egressWebhook('egress_ended', id));
      } else {
        const fake = stream.vendor === 'CLOUDFLARE' ? cloudflare : dyte;
        if (stream.kind === 'livestream') {
          fake.setLivestreamStatus(stream.externalId, 'LIVE');
          add(fake.livestreamWebhook(stream.externalId));
          // RealtimeKit ends with IDLE; Dyte only says OFFLINE, which reads as an end once LIVE was seen.
          const ended = stream.vendor === 'CLOUDFLARE' ? 'IDLE' : 'OFFLINE';
          fake.setLivestreamStatus(stream.externalId, ended, { active: false });
          add(fake.livestreamWebhook(stream.externalId));
        } else {
          for (const status of ['RECORDING', 'PAUSED', 'RECORDING', 'UPLOADING', 'UPLOADED']) {
            fake.setRecordingStatus(stream.externalId, status);
            add(fake.recordingWebhook(stream.externalId));
          }
        }
      }
      // Dyte's OFFLINE means "ended" only after LIVE was seen (else "not live yet"): its order is
      // kept (polling heals the other case); every other vendor's news may arrive in any order.
      sequences.push({ stream, deliveries, keepOrder: stream.vendor === 'DYTE' && stream.kind === 'livestream' });
    }

    // ── the hostile stream of deliveries ───────────────────────────────────
    const forgedCopy = (delivery: Delivery): Delivery => {
      const payload = structuredClone(delivery.payload);
      // What an attacker would claim: the stream failed.
      if (payload.egressInfo) payload.egressInfo.status = 'EGRESS_FAILED';
      else if (payload.recording) payload.recording.status = 'ERRORED';
      else payload.status = 'ERRORED';
      if (payload.id) payload.id = `EV_forged_${crypto.randomUUID()}`;
      return { ...delivery, payload, uuid: crypto.randomUUID(), spoil: pick(['forged', 'tampered', 'unsigned']) };
    };
    const early: Delivery[] = [];
    const late: Delivery[] = [];
    // Distinct signed bodies: the same bytes sent twice (a RealtimeKit recording's second
    // RECORDING reads exactly as its first) are one delivery, whatever their uuid header says.
    const signed = new Set<string>();
    for (const { stream, deliveries, keepOrder } of sequences) {
      const ordered = [...deliveries];
      if (!keepOrder) {
        for (let i = 0; i + 1 < ordered.length; i++) {
          if (rand() < 0.4) [ordered[i], ordered[i + 1]] = [ordered[i + 1]!, ordered[i]!];
        }
      }
      ordered.forEach((delivery, index) => {
        // A kept order goes out in phases: everything before the last event first.
        const target = keepOrder && index === ordered.length - 1 ? late : early;
        const copies = 2 + Math.floor(rand() * 5);
        for (let c = 0; c < copies; c++) target.push(delivery);
        for (let f = 0; f < 7; f++) target.push(forgedCopy(delivery));
        signed.add(`${delivery.vendor}:${JSON.stringify(delivery.payload)}`);
      });
      void stream;
    }
    // Meeting and participant news for the same rooms (no automation rule: recorded only).
    const noise: Delivery[] = [];
    for (let i = 0; noise.length < 60 || early.length + late.length + noise.length < 1020; i++) {
      const stream = pick(tracked);
      if (stream.vendor === 'LIVEKIT') {
        const event = pick(['participant_joined', 'participant_left'] as const);
        noise.push({ vendor: 'LIVEKIT', payload: livekit.participantWebhook(event, stream.roomId, `peer-${i}`) });
      } else {
        const fake = stream.vendor === 'CLOUDFLARE' ? cloudflare : dyte;
        const event = pick(['meeting.participantJoined', 'meeting.participantLeft'] as const);
        noise.push({
          vendor: stream.vendor,
          payload: fake.participantWebhook(event, stream.roomId, `peer-${i}`),
          uuid: crypto.randomUUID(),
        });
      }
    }
    early.push(...noise);
    const shuffle = (list: Delivery[]) => {
      for (let i = list.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [list[i], list[j]] = [list[j]!, list[i]!];
      }
      return list;
    };
    const phases = [shuffle(early), shuffle(late)];
    const total = early.length + late.length;
    expect(total).toBeGreaterThanOrEqual(1000);

    // ── send, many at once ─────────────────────────────────────────────────
    const paths: Record<Vendor, string> = { CLOUDFLARE: 'cloudflare', DYTE: 'dyte', LIVEKIT: 'livekit' };
    const answers: { delivery: Delivery; status: number }[] = [];
    const send = async (delivery: Delivery) => {
      const url = `http://127.0.0.1:${server.port}/webhooks/${paths[delivery.vendor]}`;
      const options = {
        signature: delivery.spoil === 'forged' ? 'forged' : delivery.spoil === 'unsigned' ? 'none' : 'valid',
        tamper: delivery.spoil === 'tampered',
      } as const;
      const fake = delivery.vendor === 'LIVEKIT' ? livekit : delivery.vendor === 'CLOUDFLARE' ? cloudflare : dyte;
      const answer =
        fake === livekit
          ? await livekit.sendWebhook(url, delivery.payload, options)
          : await (fake as CloudflareFake).sendWebhook(url, delivery.payload, { ...options, uuid: delivery.uuid });
      answers.push({ delivery, status: answer.status });
    };
    for (const phase of phases) {
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < phase.length) await send(phase[next++]!);
        }),
      );
    }

    // ── what every client observes ─────────────────────────────────────────
    expect(answers).toHaveLength(total);
    const wrong = answers.filter((a) => a.status !== (a.delivery.spoil ? 401 : 200));
    expect(
      wrong.map((a) => [a.delivery.spoil, a.status]),
      `seed ${seed}`,
    ).toEqual([]);

    for (const stream of tracked) {
      await completedWithin(stream.seen, 5000);
      const events = stream.seen.events.map((e) => e.livestreamChanged ?? e.recordingChanged);
      expectVersionsIncreasing(events);
      expect(events.at(-1)?.status, `${stream.vendor} ${stream.kind} (seed ${seed})`).toBe(stream.final);
      expect(events.some((e: any) => e.status === 'FAILED')).toBe(false);
    }
    for (const stream of tracked.filter((t) => t.kind === 'recording')) {
      const { data } = await gql(server.url, RECORDING_READ, { id: stream.id });
      expect(data?.recording.status).toBe('COMPLETED');
      expect(data?.recording.assets.length).toBeGreaterThan(0);
    }
    const { data } = await gql(server.url, '{ activeLivestreams { id } activeRecordings { id } }');
    expect(data).toEqual({ activeLivestreams: [], activeRecordings: [] });

    // One delivery row per real delivery (redeliveries and forgeries left no row), all applied.
    const trace = await storedTrace(server.dbPath);
    expect(trace.deliveries).toHaveLength(signed.size + noise.length);
    expect(trace.deliveries.filter((d) => d.processed_at === null)).toEqual([]);
  }, 60_000); // 1,000+ durable deliveries: seconds on an idle machine, longer on a loaded one
});
