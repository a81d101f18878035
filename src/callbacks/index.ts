// Apollo's HTTP callback protocol (`callback/1.0`): subscriptions a router registers with a
// callback URL, stored (see CallbackStore) so that any replica emits them and they outlive a restart.
export type { CallbackEmission, SubscribeOperation, SubscribeResult } from './emission.js';
export { acceptsCallbacks, PROTOCOL_HEADER, PROTOCOL_VERSION } from './protocol.js';
export { type CallbackOptions, type CallbackRequest, CallbackSubscriptions } from './subscriptions.js';
