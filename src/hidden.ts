// A value kept with an object without being one of its properties: a private field that a class
// adds to an object it did not make (its base constructor returns that object, so the derived
// class's fields are defined on it). JSON, spreads, `Object.keys`, symbol listings, `inspect` and
// deep equality see none of it, and it goes with the object.
//
// What it replaces, on a replay's path (three values per change sent: the shared results on the
// event, the event id and the frame text on the result): a non-enumerable symbol property, whose
// `Object.defineProperty` is a call into the runtime each time: two such values took 270–460 ns
// against 12–29 ns as private fields (bench/README.md, "Catch-up", 2026-12-05 evening session). A
// WeakMap entry per object cost more still (its entries outlive their key by a collection).

class Returning {
  constructor(target: object) {
    // biome-ignore lint/correctness/noConstructorReturn: the derived class's fields go onto `target`
    return target;
  }
}

export interface HiddenSlot<T> {
  /** The value kept with `target`, if any. */
  get(target: object): T | undefined;
  /** Keeps `value` with `target` (a frozen or sealed object keeps none, as with a property). */
  set(target: object, value: T): void;
}

/** A slot of its own: each call makes a class, whose private name no other slot shares. */
export function hiddenSlot<T>(): HiddenSlot<T> {
  class Slot extends Returning {
    #value: T;

    private constructor(target: object, value: T) {
      super(target);
      this.#value = value;
    }

    static get(target: object): T | undefined {
      return #value in target ? (target as Slot).#value : undefined;
    }

    static set(target: object, value: T): void {
      if (#value in target) (target as Slot).#value = value;
      else if (Object.isExtensible(target)) new Slot(target, value);
    }
  }
  return Slot;
}
