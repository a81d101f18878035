import type { Store } from './types.js';

/** A store's sections (streams, history, …): the properties of Store that are not methods. */
export type StoreSections = {
  readonly [K in keyof Store as NonNullable<Store[K]> extends (...args: never[]) => unknown ? never : K]: Store[K];
};

/**
 * The base of each engine's store: its instances carry the sections Store declares, so an engine
 * does not list them again; its constructor assigns them all at once
 * (`Object.assign(this, { … } satisfies StoreSections)`).
 */
export const StoreBase = class {} as new () => StoreSections;
