/**
 * An OpenTelemetry SDK registered globally with in-memory exporters, for the telemetry tests:
 * every span ended and every measurement taken since the last `reset()`.
 *
 * @module
 */
import { type Attributes, metrics, trace } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A reader collected on demand, in delta temporality: each collection holds what happened since the last. */
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** One data point: a counter's sum, or a histogram's count of measurements. */
export interface Point {
  metric: string;
  unit: string;
  attributes: Attributes;
  /** A counter's value; a histogram's count. */
  value: number;
}

export interface RecordedTelemetry {
  /** The spans ended since the last reset, in the order they ended. */
  spans(): ReadableSpan[];
  /** The data points of every metric measured since the last reset (or `points` call). */
  points(): Promise<Point[]>;
  /** Forgets the spans and measurements so far. */
  reset(): Promise<void>;
}

/**
 * Registers a tracer provider and a meter provider as the global ones (once per process; a
 * test file runs in its own worker) and returns what they record.
 */
export function recordTelemetry(): RecordedTelemetry {
  const exporter = new InMemorySpanExporter();
  const reader = new OnDemandReader();
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  const points = async (): Promise<Point[]> => {
    const { resourceMetrics } = await reader.collect();
    const out: Point[] = [];
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const p of metric.dataPoints) {
          const value = metric.dataPointType === DataPointType.HISTOGRAM ? (p.value as { count: number }).count : (p.value as number);
          out.push({ metric: metric.descriptor.name, unit: metric.descriptor.unit, attributes: p.attributes, value });
        }
      }
    }
    return out;
  };
  return {
    spans: () => exporter.getFinishedSpans(),
    points,
    reset: async () => {
      exporter.reset();
      await points();
    },
  };
}
