/**
 * Keeps credentials out of what we show and store. LiveKit's own messages can quote the bearer
 * token ("invalid token: <jwt>, …"), the API key, or an RTMP URL whose path holds a stream key.
 */

const REDACTED = '[redacted]';
const JWT = /eyJ[\w-]*\.[\w-]+\.[\w-]+/g;
const STREAM_URL = /\b(rtmps?|srt):\/\/([^/\s"'<>]+)[^\s"'<>]*/gi;

/** Keeps scheme and host of a stream URL and drops its path, where the stream key lives. */
export function redactStreamUrls(text: string): string {
  return text.replace(STREAM_URL, (_, scheme: string, host: string) => `${scheme}://${host}/${REDACTED}`);
}

/** Removes every known secret, any JWT and any stream URL path from a message. */
export function redactSecrets(text: string, secrets: readonly (string | null | undefined)[]): string {
  let clean = text;
  // Longest first, so a secret that contains another is removed whole.
  const known = secrets.filter((secret): secret is string => !!secret && secret.length >= 4);
  for (const secret of known.sort((a, b) => b.length - a.length)) clean = clean.split(secret).join(REDACTED);
  return redactStreamUrls(clean.replace(JWT, REDACTED));
}
