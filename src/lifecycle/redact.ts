/**
 * Keys whose values are credentials, kept out of the history a vendor payload is stored in, in
 * either spelling (`stream_key` / `streamKey`, `livekit_token` / `livekitToken`, `x-api-key`).
 */
const SECRET_KEY =
  /^(.*stream_?key|.*token|api_?key|x-api-key|.*secret.*|authorization|password|passphrase|credentials?)$/i;

/**
 * A push URL (`rtmp://host/app/<stream key>`, `srt://host?streamid=<key>`): scheme, host and first
 * path segment (the application) are harmless, whatever follows them may be the stream key.
 */
const STREAM_URL = /^((?:rtmps?|rtsp|srt):\/\/[^/?#\s]+(?:\/[^/?#\s]*)?)([\s\S]*)$/i;

/** A payload as history stores it: JSON, with credentials and stream keys redacted. */
export function serializePayload(payload: unknown): string | null {
  if (payload === undefined) return null;
  return JSON.stringify(payload, (key, value) => {
    if (key && SECRET_KEY.test(key) && value) return '[redacted]';
    const url = typeof value === 'string' ? STREAM_URL.exec(value) : null;
    return url?.[2] && url[2] !== '/' ? `${url[1]}/[redacted]` : value;
  });
}
