import { afterEach, describe, expect, it } from 'vitest';
import type { RealtimeKitFake } from '../../fakes/realtimekit.js';
import {
  gql,
  LIVESTREAM_FIELDS,
  RECORDING_FIELDS,
  START_LIVESTREAM,
  START_RECORDING,
  startServer,
  type TestServer,
} from '../../helpers.js';

/**
 * What Cloudflare RealtimeKit and Dyte do alike through the provider they share
 * (`src/providers/realtimekit-api/`): failing starts, 429s, and adopting the meeting's active
 * livestream or recording after a start whose answer was lost. Each vendor's own
 * `provider.test.ts` runs this suite and adds what differs (status lists, paths, credentials).
 */

export interface RealtimeKitProviderVendor {
  provider: 'CLOUDFLARE' | 'DYTE';
  start(): Promise<RealtimeKitFake & { env: Record<string, string> }>;
  /** A meeting id of the vendor's shape. */
  meeting(): string;
  /** What the vendor's start answer (and the active livestream right after it) says. */
  livestreamStartStatus: string;
}

const FAST = { POLL_INTERVAL_MS: '50', VENDOR_TIMEOUT_MS: '300', VENDOR_MAX_RETRIES: '2' };

export function realtimeKitProviderSuite(family: RealtimeKitProviderVendor): void {
  describe(`${family.provider} provider, as every RealtimeKit-family vendor`, () => {
    let fake: RealtimeKitFake & { env: Record<string, string> };
    let server: TestServer;

    async function boot(env: Record<string, string> = {}): Promise<void> {
      fake = await family.start();
      server = await startServer({ ...fake.env, ...FAST, ...env });
    }

    afterEach(async () => {
      await server?.cleanup();
      await fake?.close();
    });

    const meeting = family.meeting;
    const startLivestream = (roomId: string, extra: Record<string, unknown> = {}) =>
      gql(server.url, START_LIVESTREAM, { input: { provider: family.provider, roomId, ...extra } });
    const startRecording = (roomId: string, extra: Record<string, unknown> = {}) =>
      gql(server.url, START_RECORDING, { input: { provider: family.provider, roomId, ...extra } });
    const livestreamRows = async (roomId: string) => {
      const { data } = await gql(
        server.url,
        `query Rows($roomId: String!) {
          livestreams(provider: ${family.provider}, roomId: $roomId) { edges { node { ${LIVESTREAM_FIELDS} } } }
          activeLivestreams(provider: ${family.provider}, roomId: $roomId) { id }
        }`,
        { roomId },
      );
      return { rows: data?.livestreams.edges.map((e: any) => e.node), active: data?.activeLivestreams };
    };
    const recordingRows = async (roomId: string) => {
      const { data } = await gql(
        server.url,
        `query Rows($roomId: String!) {
          recordings(provider: ${family.provider}, roomId: $roomId) { edges { node { ${RECORDING_FIELDS} } } }
          activeRecordings(provider: ${family.provider}, roomId: $roomId) { id }
        }`,
        { roomId },
      );
      return { rows: data?.recordings.edges.map((e: any) => e.node), active: data?.activeRecordings };
    };

    it('is listed as configured with livestreams, recordings and webhooks', async () => {
      await boot();
      const { data } = await gql(server.url, '{ providers { provider configured livestreams recordings webhooks } }');
      expect(data?.providers.find((p: any) => p.provider === family.provider)).toEqual({
        provider: family.provider,
        configured: true,
        livestreams: true,
        recordings: true,
        webhooks: true,
      });
    });

    describe('a start that fails', () => {
      const cases = [
        { mode: '500', code: 'PROVIDER_UNAVAILABLE', message: /HTTP 500/ },
        { mode: 'hang', code: 'PROVIDER_UNAVAILABLE', message: /did not answer in time/ },
        { mode: 'malformed', code: 'PROVIDER_UNAVAILABLE', message: /malformed/ },
        { mode: 'success-false', code: 'PROVIDER_REJECTED', message: /Simulated refusal/ },
      ] as const;
      for (const { mode, code, message } of cases) {
        it(`(${mode}) answers ${code}, leaves the row FAILED and nothing active`, async () => {
          await boot();
          const roomId = meeting();
          fake.fail({ mode, method: 'POST', path: /\/livestreams$/, retryAfterSeconds: 1 });
          const result = (await startLivestream(roomId)).data?.startLivestream;
          expect(result).toMatchObject({ __typename: 'ProviderError', code, provider: family.provider });
          expect(result.message).toMatch(message);
          // A start is never sent twice.
          expect(fake.requestsTo('POST', /\/livestreams$/)).toHaveLength(1);
          const { rows, active } = await livestreamRows(roomId);
          expect(rows).toHaveLength(1);
          expect(rows[0]).toMatchObject({ status: 'FAILED', failureReason: expect.stringContaining(code) });
          expect(active).toEqual([]);

          const again = (await startLivestream(roomId)).data?.startLivestream;
          expect(again.__typename).toBe('StartLivestreamSuccess');
          expect(again.livestream.status).toBe('STARTING');
        });
      }

      // A 429 means the vendor did nothing, so the shared client may send even a start again.
      it('(429, transient) waits the Retry-After, sends the start again and ends with one livestream', async () => {
        await boot();
        const roomId = meeting();
        fake.fail({ mode: '429', method: 'POST', path: /\/livestreams$/, retryAfterSeconds: 1 });
        const before = Date.now();
        const result = (await startLivestream(roomId)).data?.startLivestream;
        const elapsed = Date.now() - before;
        expect(result.__typename).toBe('StartLivestreamSuccess');
        const starts = fake.requestsTo('POST', /\/livestreams$/);
        expect(starts).toHaveLength(2);
        expect(starts[1]!.at - starts[0]!.at).toBeGreaterThanOrEqual(900);
        expect(elapsed).toBeGreaterThanOrEqual(900);
        const vendor = [...fake.livestreams.values()].filter((l) => l.meeting_id === roomId);
        expect(vendor).toHaveLength(1);
        expect(result.livestream).toMatchObject({ status: 'STARTING', externalId: vendor[0]!.id });
        const { rows, active } = await livestreamRows(roomId);
        expect(rows).toHaveLength(1);
        expect(active).toEqual([{ id: result.livestream.id }]);
      });

      it('(429, persistent) answers RATE_LIMITED after the retries, leaves the row FAILED and nothing active', async () => {
        await boot();
        const roomId = meeting();
        // More refusals than the client makes attempts (VENDOR_MAX_RETRIES=2: three in all).
        fake.fail({ mode: '429', times: 10, method: 'POST', path: /\/livestreams$/, retryAfterSeconds: 0 });
        const result = (await startLivestream(roomId)).data?.startLivestream;
        expect(result).toMatchObject({ __typename: 'ProviderError', code: 'RATE_LIMITED', provider: family.provider });
        expect(result.message).toMatch(/rate limiting/);
        expect(fake.requestsTo('POST', /\/livestreams$/)).toHaveLength(3);
        // A 429 is not a maybe: no lookup of the meeting's active livestream follows.
        expect(fake.requestsTo('GET', /\/active-livestream$/)).toHaveLength(0);
        expect([...fake.livestreams.values()].filter((l) => l.meeting_id === roomId)).toEqual([]);
        const { rows, active } = await livestreamRows(roomId);
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ status: 'FAILED', failureReason: expect.stringContaining('RATE_LIMITED') });
        expect(active).toEqual([]);

        fake.clearFaults();
        const again = (await startLivestream(roomId)).data?.startLivestream;
        expect(again.__typename).toBe('StartLivestreamSuccess');
        expect(again.livestream.status).toBe('STARTING');
        expect(fake.requestsTo('POST', /\/livestreams$/)).toHaveLength(4);
      });

      for (const mode of ['500', 'hang'] as const) {
        it(`recording (${mode}): answers PROVIDER_UNAVAILABLE, row FAILED, nothing active, a second start works`, async () => {
          await boot();
          const roomId = meeting();
          fake.fail({ mode, method: 'POST', path: /^\/recordings$/ });
          const result = (await startRecording(roomId)).data?.startRecording;
          expect(result).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_UNAVAILABLE' });
          expect(fake.requestsTo('POST', /^\/recordings$/)).toHaveLength(1);
          const { rows, active } = await recordingRows(roomId);
          expect(rows[0]).toMatchObject({
            status: 'FAILED',
            failureReason: expect.stringContaining('PROVIDER_UNAVAILABLE'),
          });
          expect(active).toEqual([]);
          expect((await startRecording(roomId)).data?.startRecording.__typename).toBe('StartRecordingSuccess');
        });
      }
    });

    describe('a start whose answer was lost after the vendor acted', () => {
      for (const mode of ['hang', '500', 'malformed'] as const) {
        it(`(${mode}) adopts the meeting's active livestream instead of failing or starting twice`, async () => {
          await boot();
          const roomId = meeting();
          fake.fail({ mode, actFirst: true, method: 'POST', path: /\/livestreams$/ });
          const result = (await startLivestream(roomId)).data?.startLivestream;
          expect(result.__typename).toBe('StartLivestreamSuccess');
          const vendor = fake.activeLivestream(roomId)!;
          expect(result.livestream).toMatchObject({
            status: 'STARTING',
            vendorStatus: family.livestreamStartStatus,
            externalId: vendor.id,
            ingest: { streamKey: vendor.stream_key },
          });
          expect(fake.requestsTo('POST', /\/livestreams$/)).toHaveLength(1);
          expect(fake.requestsTo('GET', /\/active-livestream$/).length).toBeGreaterThan(0);
        });
      }

      for (const mode of ['hang', 'malformed'] as const) {
        it(`(${mode}) adopts the meeting active recording, sending the start once`, async () => {
          await boot();
          const roomId = meeting();
          fake.fail({ mode, actFirst: true, method: 'POST', path: /^\/recordings$/ });
          const result = (await startRecording(roomId)).data?.startRecording;
          expect(result.__typename).toBe('StartRecordingSuccess');
          const [vendor] = [...fake.recordings.values()];
          expect(result.recording).toMatchObject({ status: 'STARTING', externalId: vendor!.id });
          expect(fake.requestsTo('POST', /^\/recordings$/)).toHaveLength(1);
          expect(fake.requestsTo('GET', new RegExp(`^/recordings/active-recording/${roomId}$`))).toHaveLength(1);
        });
      }
    });
  });
}
