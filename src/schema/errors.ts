import {
  ConflictError,
  type DomainError,
  ERROR_CODES,
  ForbiddenError,
  NotFoundError,
  ProviderError,
  ValidationError,
} from '../domain/errors.js';
import { builder } from './builder.js';
import { ProviderEnum } from './enums.js';
import { LivestreamRef, RecordingRef } from './refs.js';

export const ErrorCodeEnum = builder.enumType('ErrorCode', { values: ERROR_CODES });

export const ErrorInterface = builder.interfaceRef<DomainError>('Error').implement({
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.field({ type: ErrorCodeEnum, resolve: (error) => error.code }),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({
    field: t.exposeString('field', { nullable: true, description: 'The input field at fault, if one is.' }),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotFoundError,
  fields: (t) => ({
    id: t.exposeID('id'),
  }),
});

builder.objectType(ConflictError, {
  name: 'ConflictError',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ConflictError,
  fields: (t) => ({
    activeLivestream: t.field({
      type: LivestreamRef,
      nullable: true,
      description: 'The livestream already active in the room (or the one the idempotency key already names).',
      resolve: (error) => error.livestream,
    }),
    activeRecording: t.field({
      type: RecordingRef,
      nullable: true,
      description: 'The recording already active in the room (or the one the idempotency key already names).',
      resolve: (error) => error.recording,
    }),
  }),
});

builder.objectType(ProviderError, {
  name: 'ProviderError',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ProviderError,
  fields: (t) => ({
    provider: t.field({ type: ProviderEnum, resolve: (error) => error.provider }),
  }),
});

builder.objectType(ForbiddenError, {
  name: 'ForbiddenError',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ForbiddenError,
  fields: () => ({}),
});

/** The error types every mutation result union carries. */
export const MUTATION_ERRORS = [ValidationError, NotFoundError, ConflictError, ProviderError, ForbiddenError];

/** Result union options for a mutation: `<Name>Result = <Name>Success | errors`. */
export function mutationErrors(name: string, dataField: string) {
  return {
    types: MUTATION_ERRORS,
    union: { name: `${name}Result` },
    result: { name: `${name}Success` },
    dataField: { name: dataField },
  };
}
