import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Attributes, Span, Tracer } from '@opentelemetry/api';

/**
 * OpenTelemetry tracing, on only when an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`).
 * The SDK, the exporter and even `@opentelemetry/api` are imported lazily by `startTracing`: with
 * tracing off nothing of them is loaded, and every helper below is a check of one variable.
 *
 * The SDK reads the other standard `OTEL_*` variables itself (`OTEL_SERVICE_NAME`,
 * `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`).
 */

type Api = typeof import('@opentelemetry/api');

interface Tracing {
  api: Api;
  tracer: Tracer;
  provider: { forceFlush(): Promise<void> };
}

let tracing: Tracing | undefined;
let starting: Promise<void> | undefined;

export interface TracingConfig {
  /** Where spans are sent (OTLP/HTTP, JSON); unset turns tracing off. */
  tracesUrl: string | undefined;
  serviceName: string;
}

/** Loads the SDK and starts exporting (once per process); does nothing without an endpoint. */
export function startTracing(config: TracingConfig): Promise<void> {
  const url = config.tracesUrl;
  if (!url) return Promise.resolve();
  starting ??= (async () => {
    const [api, sdk, { OTLPTraceExporter }, resources] = await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
    ]);
    const resource = resources
      .resourceFromAttributes({ 'service.name': config.serviceName })
      .merge(resources.detectResources({ detectors: [resources.envDetector] }));
    const provider = new sdk.NodeTracerProvider({
      resource,
      spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url }))],
    });
    // Installs the AsyncLocalStorage context manager and the W3C trace-context propagator.
    provider.register();
    tracing = { api, tracer: api.trace.getTracer('livestream-subgraph'), provider };
  })();
  return starting;
}

/**
 * Sends the spans still buffered (graceful shutdown), waiting at most `timeoutMs`: a collector that
 * is down or does not answer must not hold the shutdown past its bound (the exporter's own timeout
 * and retries take longer). Answers false when they were not all sent in time.
 */
export async function flushTracing(timeoutMs: number): Promise<boolean> {
  if (!tracing) return true;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, false);
  });
  try {
    return await Promise.race([
      tracing.provider.forceFlush().then(
        () => true,
        () => false,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function tracingEnabled(): boolean {
  return tracing !== undefined;
}

/** The trace id of the active span, when tracing is on. */
export function activeTraceId(): string | undefined {
  if (!tracing) return undefined;
  return tracing.api.trace.getActiveSpan()?.spanContext().traceId;
}

/**
 * Runs an HTTP request's handling in a server span that continues the caller's W3C `traceparent`.
 * The span ends when the response is finished (or the connection closes).
 */
export function traceRequest(req: IncomingMessage, res: ServerResponse, route: string, handle: () => void): void {
  if (!tracing) {
    handle();
    return;
  }
  const { api, tracer } = tracing;
  const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
  const span = tracer.startSpan(
    `${req.method ?? 'GET'} ${route}`,
    {
      kind: api.SpanKind.SERVER,
      attributes: { 'http.request.method': req.method ?? 'GET', 'http.route': route, 'url.path': route },
    },
    parent,
  );
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
    span.end();
  };
  res.once('finish', end);
  res.once('close', end);
  api.context.with(api.trace.setSpan(parent, span), handle);
}

function fail(api: Api, span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : undefined });
}

/**
 * Runs `fn` in a child span of the active one (sync or async: a promise ends the span when it
 * settles). With tracing off it just runs `fn`.
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: () => T): T {
  if (!tracing) return fn();
  const { api, tracer } = tracing;
  return tracer.startActiveSpan(name, { attributes }, (span) => {
    let result: T;
    try {
      result = fn();
    } catch (error) {
      fail(api, span, error);
      span.end();
      throw error;
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          fail(api, span, error);
          span.end();
          throw error;
        },
      ) as T;
    }
    span.end();
    return result;
  });
}

/**
 * `fn` bound to the trace context active now, for work that runs later in another turn (a group
 * commit, a callback after commit). With tracing off it answers `fn` itself.
 */
export function bindToTrace<F extends (...args: never[]) => unknown>(fn: F): F {
  if (!tracing) return fn;
  return tracing.api.context.bind(tracing.api.context.active(), fn);
}

/** Starts a span for a GraphQL operation; the answer ends it. Undefined when tracing is off. */
export function startOperationSpan(name: string, attributes: Attributes): ((error?: unknown) => void) | undefined {
  if (!tracing) return undefined;
  const { api, tracer } = tracing;
  const span = tracer.startSpan(name, { attributes });
  return (error) => {
    if (error !== undefined) fail(api, span, error);
    span.end();
  };
}
