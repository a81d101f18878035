import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * yoga's `logging` option, writing through pino: strings make the message, an error goes to `err`
 * (a GraphQL error's original error, with its stack), and objects stay fields of the line instead
 * of becoming "[object Object]".
 */
export function yogaLogging(logger: Logger): Record<Level, (...args: unknown[]) => void> {
  const write =
    (level: Level) =>
    (...args: unknown[]): void => {
      if (!logger.isLevelEnabled(level)) return;
      const fields: Record<string, unknown> = {};
      const words: string[] = [];
      for (const arg of args) {
        if (arg instanceof Error) {
          fields.err = arg instanceof GraphQLError && arg.originalError ? arg.originalError : arg;
        } else if (Array.isArray(arg)) {
          fields.detail = arg;
        } else if (typeof arg === 'object' && arg !== null) {
          Object.assign(fields, arg);
        } else if (arg !== undefined) {
          words.push(String(arg));
        }
      }
      const message = words.join(' ') || (level === 'error' ? 'graphql error' : 'graphql');
      logger[level](fields, message);
    };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
