import type { DestinationStream } from 'pino';

/**
 * Where logs go: readable lines when stdout is a terminal (a person ran `npm start`), else the
 * JSON lines unchanged (stdout, for a collector). pino-pretty (a devDependency) is loaded only
 * for a terminal, and only where it is installed.
 */
export async function logDestination(): Promise<DestinationStream | undefined> {
  if (!process.stdout.isTTY) return undefined;
  try {
    const { default: pretty } = await import('pino-pretty');
    return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', singleLine: true });
  } catch {
    // A production install without devDependencies: JSON lines, as anywhere else.
    return undefined;
  }
}
