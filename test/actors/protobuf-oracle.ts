/**
 * The generated decoder (ts-proto over @bufbuild/protobuf) mapped to the plain
 * event shape, as decode.ts did before the hand-written reader: the oracle of
 * test/actors/protobuf.test.ts and the "before" of bench/actors/decode.bench.ts.
 */
import { IngestRequest } from '../../src/gen/eventide/v1/ingest.js';
import { Severity } from '../../src/gen/eventide/v1/event.js';

export function generatedPlainEvents(bytes: Uint8Array): unknown[] {
  const severityNames: Record<number, string> = { 1: 'debug', 2: 'info', 3: 'notice', 4: 'warning', 5: 'error', 6: 'critical' };
  return IngestRequest.decode(bytes).events.map((e) => {
    const o: Record<string, unknown> = {};
    if (e.id !== '') o.id = e.id;
    if (e.name !== '') o.name = e.name;
    if (e.timestampMs !== undefined) o.timestamp = e.timestampMs;
    if (e.sentAtMs !== undefined) o.sentAt = e.sentAtMs;
    if (e.userId !== undefined) o.userId = e.userId;
    if (e.category !== undefined) o.category = e.category;
    if (e.severity !== Severity.SEVERITY_UNSPECIFIED) o.severity = severityNames[e.severity] ?? `unknown(${String(e.severity)})`;
    if (e.tags.length > 0) o.tags = e.tags;
    if (e.properties.size > 0) {
      const props: Record<string, unknown> = {};
      for (const [key, pv] of e.properties) {
        const value = pv.kind?.value;
        if (key === '__proto__') Object.defineProperty(props, key, { value, enumerable: true, writable: true, configurable: true });
        else props[key] = value;
      }
      o.properties = props;
    }
    if (e.value !== undefined) o.value = e.value;
    return o;
  });
}

