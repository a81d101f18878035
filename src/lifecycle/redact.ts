/**
 * Keys whose values are credentials, kept out of the history a vendor payload is stored in, in
 * either spelling (`stream_key` / `streamKey`, `livekit_token` / `livekitToken`, `x-api-key`).
 */
const SECRET_KEY =
  /^(.*stream_?key|.*token|api_?key|x-api-key|.*secret.*|authorization|password|passphrase|credentials?)$/i;

/**
 * Keys whose values are a participant's personal data, in the vendors' payloads (vendors.md):
 * 100ms `user_name`, `user_id`, `user_data`, `started_by` / `stopped_by`; RealtimeKit and Dyte
 * `userDisplayName`, `customParticipantId`; LiveKit `identity`, `metadata`; Tenbyte's host
 * `email`, `username`, `external_user_id`; and the like (names, e-mail, phone, address, picture).
 * History needs none of them to tell what happened to a stream.
 */
const PERSONAL_KEY = new RegExp(
  '^(user_?(name|id|data|display_?name|email|metadata)|username|(external|custom)_?(user|participant)_?id|' +
    'display_?name|(first|last|full|given|family|nick)_?name|e-?mail(_?address)?|phone(_?number)?|' +
    'ip(_?address)?|picture|avatar(_?url)?|identity|metadata|(started|stopped|organized|created)_?by)$',
  'i',
);

/** Objects that stand for a person: their `name` (and `id`-free details) are personal too. */
const PERSON_KEY =
  /^(participants?|peers?|users?|hosts?|attendees?|presenters?|viewers?|owners?|creators?|organizers?)$/i;

const REDACTED = '[redacted]';

/** An e-mail address inside any text (a participant's identity given as one, a message quoting it). */
const EMAIL = /[\w.+-]+@[\w-]+(\.[\w-]+)*\.[a-z]{2,}/gi;

/**
 * A push URL (`rtmp://host/app/<stream key>`, `srt://host?streamid=<key>`): scheme, host and first
 * path segment (the application) are harmless, whatever follows them may be the stream key.
 */
const STREAM_URL = /^((?:rtmps?|rtsp|srt):\/\/[^/?#\s]+(?:\/[^/?#\s]*)?)([\s\S]*)$/i;

/**
 * A payload as history stores it: JSON, with credentials, stream keys and participants'
 * personal data redacted.
 */
export function serializePayload(payload: unknown): string | null {
  if (payload === undefined) return null;
  return JSON.stringify(payload, redactValue);
}

/** What a key's value becomes: kept, redacted (when set), or a person's (its name redacted). */
type KeyKind = 'plain' | 'secret' | 'person';

/**
 * Each key's kind, remembered: a vendor's payloads repeat a small vocabulary of keys, and three
 * regular expressions per key were most of the redaction's cost (bench/README.md, "SQLite intake,
 * 2026-12-05 evening session"). Bounded: emptied when full (keys of a vendor's free-form data).
 */
const keyKinds = new Map<string, KeyKind>();
const MAX_KEY_KINDS = 2000;

function kindOf(key: string): KeyKind {
  let kind = keyKinds.get(key);
  if (kind !== undefined) return kind;
  kind = SECRET_KEY.test(key) || PERSONAL_KEY.test(key) ? 'secret' : PERSON_KEY.test(key) ? 'person' : 'plain';
  if (keyKinds.size >= MAX_KEY_KINDS) keyKinds.clear();
  keyKinds.set(key, kind);
  return kind;
}

function redactValue(key: string, value: unknown): unknown {
  if (key) {
    const kind = kindOf(key);
    if (kind === 'secret' && value) return REDACTED;
    if (kind === 'person') return withoutName(value);
  }
  if (typeof value !== 'string') return value;
  // Most values name no URL: the expression runs only on those that may be one.
  const url = value.includes('://') ? STREAM_URL.exec(value) : null;
  if (url?.[2] && url[2] !== '/') return `${url[1]}/${REDACTED}`;
  return value.includes('@') ? value.replace(EMAIL, REDACTED) : value;
}

/** A person (or list of persons) with the `name` redacted; the rest goes on through the replacer. */
function withoutName(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutName);
  if (value === null || typeof value !== 'object' || !('name' in value) || !value.name) return value;
  return { ...value, name: REDACTED };
}
