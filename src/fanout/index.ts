// The fan-out optimisations, fenced here: what lets one process hold tens of thousands of idle
// subscribers and push one change to thousands of them in about twice the time a bare `ws`
// broadcast takes. Each trades plain code for memory or time, measured in bench/ (see
// bench/README.md, "What the service does to get there", for what each one buys and how it was
// measured); change them with the benchmarks at hand.
//
// - queue.ts: a subscription as one small object per subscriber (no generator, no closures),
//   each change handed over as the same object; it also counts what it holds against its
//   connection's slow-consumer bound.
// - subscription-execution.ts: each event's selection executed once per group of identical
//   subscriptions rather than once per subscriber.
// - event-plan.ts: a selection of leaf fields only executed by a plan made once per subscription
//   (the same resolvers and serializers) rather than by graphql-js' general `execute`.
// - row-splice.ts (with result-text.ts and store/logged-record.ts): a replayed change's frame
//   written from its snapshot's text when the selected fields are declared elements of that row.
// - graphql-ws.ts: graphql-transport-ws on `ws` with one heartbeat timer for all sockets and
//   shared listeners, plus the per-socket bounds (send backlog, frame rate, connections not
//   initialised); the frames of one tick written together (one `writev`).
// - protocol.ts: the graphql-transport-ws protocol (graphql-ws' `makeServer`, same messages and
//   close codes) with one object per operation, and each shared result's frame text made once.
// - dates.ts: DateTime strings made once per Date, off V8's slow stringify path.
export { serializeDateTime } from './dates.js';
export { type Extra, type SocketLimits, useServer } from './graphql-ws.js';
export { type Backlog, ChangeQueue, type QueueMapper } from './queue.js';
export { useSharedSubscriptionExecution } from './subscription-execution.js';
