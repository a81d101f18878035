import type { DestinationStream } from 'pino';

/**
 * Where logs go: readable lines when stdout is a terminal (a person ran `npm start`), else the
 * JSON lines unchanged (stdout, for a collector). pino-pretty is loaded only for a terminal.
 */
export async function logDestination(): Promise<DestinationStream | undefined> {
  if (!process.stdout.isTTY) return undefined;
  const { default: pretty } = await import('pino-pretty');
  return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', singleLine: true });
}
