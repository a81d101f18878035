import type { Logger } from 'pino';
import type { RecordingAssetRecord } from '../domain/types.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { Store } from '../store/types.js';

/** A URL this close to its expiry is renewed before it is handed out. */
const RENEW_BEFORE_MS = 60_000;
/** After a failed renewal, reads hand out the old URL for this long instead of asking again. */
const RETRY_AFTER_FAILURE_MS = 30_000;

export interface AssetDownload {
  url: string | null;
  urlExpiresAt: Date | null;
}

/**
 * Download URLs of recording assets. Vendors hand out short-lived pre-signed URLs (100ms); one
 * that has expired, or is about to, is renewed through the recording's provider when read, and
 * the new one stored. Concurrent reads of one asset share one renewal.
 */
export class RecordingAssetService {
  private readonly renewing = new Map<string, Promise<AssetDownload>>();
  /** When a renewal last failed, per asset: a vendor that is down is not asked on every read. */
  private readonly failedAt = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly providers: ProviderRegistry,
    private readonly logger: Logger,
  ) {}

  /** The asset's URL, renewed first when it has expired or is about to. */
  download(asset: RecordingAssetRecord, now = Date.now()): Promise<AssetDownload> {
    const current: AssetDownload = { url: asset.url, urlExpiresAt: asset.urlExpiresAt };
    if (!asset.urlExpiresAt || asset.urlExpiresAt.getTime() - now > RENEW_BEFORE_MS) {
      return Promise.resolve(current);
    }
    const failed = this.failedAt.get(asset.id);
    if (failed !== undefined && now - failed < RETRY_AFTER_FAILURE_MS) return Promise.resolve(current);
    let renewal = this.renewing.get(asset.id);
    if (!renewal) {
      renewal = this.renew(asset, current).finally(() => this.renewing.delete(asset.id));
      this.renewing.set(asset.id, renewal);
    }
    return renewal;
  }

  /** A renewal that fails leaves the old URL in place: the asset is still worth listing. */
  private async renew(asset: RecordingAssetRecord, current: AssetDownload): Promise<AssetDownload> {
    const recording = await this.store.streams.get('recording', asset.recordingId);
    if (!recording) return current;
    const provider = this.providers.get(recording.provider);
    if (!provider.configured || !provider.renewAssetUrl) return current;
    try {
      const renewed = await provider.renewAssetUrl({
        externalId: asset.externalId,
        path: asset.path,
        roomId: recording.roomId,
        recordingExternalId: recording.externalId,
      });
      if (!renewed) {
        this.failedAt.set(asset.id, Date.now());
        return current;
      }
      await this.store.assets.updateUrl(asset.id, renewed.url, renewed.urlExpiresAt);
      this.failedAt.delete(asset.id);
      return { url: renewed.url, urlExpiresAt: renewed.urlExpiresAt };
    } catch (error) {
      this.failedAt.set(asset.id, Date.now());
      this.logger.warn(
        { err: error, assetId: asset.id, provider: recording.provider },
        'recording asset URL could not be renewed',
      );
      return current;
    }
  }
}
