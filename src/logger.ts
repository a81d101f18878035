import pino, { type DestinationStream, type Logger } from 'pino';

/** Paths whose values are secrets: never written to the log, wherever they appear. */
const REDACT = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-subgraph-secret"]',
  '*.streamKey',
  '*.stream_key',
  '*.ingestStreamKey',
  '*.token',
  '*.apiKey',
  '*.secret',
];

/** JSON lines on stdout, or to `destination` (readable lines on a terminal, see observability/pretty.ts). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
