import { type ExecutionResult, GraphQLError, type validate } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

type Validate = typeof validate;

/**
 * A graphql-js suggestion, which always ends its error's message: ` Did you mean "a"?`,
 * ` Did you mean "a" or "b"?`, ` Did you mean "a", "b", or "c"?`, ` Did you mean the enum value "A"?`.
 */
const SUGGESTION = / Did you mean (?:[a-z]+ )*"[_A-Za-z][_0-9A-Za-z]*"(?:,? (?:or )?"[_A-Za-z][_0-9A-Za-z]*")*\?$/;

/** One wrapper per validate function (the same for every request), not one per request. */
const quietValidates = new WeakMap<Validate, Validate>();

function validateWithoutSuggestions(validateFn: Validate): Validate {
  let quiet = quietValidates.get(validateFn);
  if (!quiet) {
    quiet = (schema, document, rules, options, typeInfo) =>
      validateFn(schema, document, rules, { ...options, hideSuggestions: true }, typeInfo);
    quietValidates.set(validateFn, quiet);
  }
  return quiet;
}

function withoutSuggestion(error: GraphQLError): GraphQLError {
  if (!SUGGESTION.test(error.message)) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, ''), {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

/** A result whose errors carry no suggestion, or undefined when it has none to remove. */
function resultWithoutSuggestions(result: unknown): ExecutionResult | undefined {
  if (isAsyncIterable(result)) return undefined;
  const errors = (result as ExecutionResult).errors;
  if (!errors?.some((error) => SUGGESTION.test(error.message))) return undefined;
  return { ...(result as ExecutionResult), errors: errors.map(withoutSuggestion) };
}

/**
 * With `hide`, no error tells a client what the schema holds through a suggestion ("Did you
 * mean …?"): neither validation (unknown fields, arguments, types, enum values or input fields in
 * the document) nor the coercion of variables when an operation executes or subscribes.
 * Suggestions name what is in the schema, which is what turning introspection off hides.
 *
 * Validation gets graphql-js' own `hideSuggestions`. The executor yoga runs
 * (`@graphql-tools/executor` 2.1 on graphql 16) has no such option for all it coerces (it does not
 * hand one to graphql-js' `coerceInputValue`), so suggestions are cut from the messages of an
 * execution's or subscription's result. An envelop plugin: it holds over HTTP, SSE and graphql-ws
 * alike (every WebSocket operation runs through yoga's envelop).
 */
export function useHiddenSuggestions(hide: boolean): Plugin {
  if (!hide) return {};
  return {
    onValidate({ validateFn, setValidationFn }) {
      setValidationFn(validateWithoutSuggestions(validateFn));
    },
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          const quiet = resultWithoutSuggestions(result);
          if (quiet) setResult(quiet);
        },
      };
    },
    onSubscribe() {
      return {
        // Only the answer that ends a subscription before its stream (such as a variable's
        // coercion error): events are results of our own resolvers, not of coercion.
        onSubscribeResult({ result, setResult }) {
          const quiet = resultWithoutSuggestions(result);
          if (quiet) setResult(quiet);
        },
      };
    },
  };
}
