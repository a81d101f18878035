import pino, { type Logger } from 'pino';

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

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: REDACT, censor: '[redacted]' } });
}

export type { Logger };
