import type { Executor } from './transactions.js';

/**
 * A hot statement (webhook intake) built once per executor instead of on every call: drizzle
 * builds its SQL once, and its name makes PostgreSQL parse and plan it once per connection
 * (node-postgres keeps what each connection has prepared). Measured in bench/README.md
 * ("PostgreSQL webhook intake"): query building was the largest part of the service's own CPU.
 */
export function preparedFor<P>(build: (x: Executor) => P): (x: Executor) => P {
  const built = new WeakMap<Executor, P>();
  return (x) => {
    let statement = built.get(x);
    if (!statement) {
      statement = build(x);
      built.set(x, statement);
    }
    return statement;
  };
}
