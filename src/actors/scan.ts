/**
 * Structure scans that run over the raw bytes of a JSON or msgpack body
 * before it is parsed, so a hostile body is refused before it allocates.
 *
 * Why: JSON.parse cannot be stopped early. It is iterative in V8 (deep
 * nesting does not overflow the stack), but 16 MiB of `[{},{},...]` takes it
 * about 6 s and 900 MB of heap, 16 MiB of `[[[[...` 4 s, one object with a
 * million keys 1.7 s; a valid 16 MiB batch takes 0.1 s (measured in
 * docs/security.md). msgpackr is recursive, and its extension types build
 * Errors, RegExps, typed arrays, Sets and cyclic graphs. A scan is one pass
 * over bytes that allocates nothing, and stops at the first fault.
 *
 * Invariants:
 * - A scan never decides that a body is valid: it only refuses bodies that
 *   are certainly out of bounds. What it lets through still goes to the real
 *   parser, which reports syntax errors with their position.
 * - The bounds (StructureLimits) are derived from the event limits so that a
 *   body whose events all pass validation is never refused for its size or
 *   depth, unless its events carry many fields the schema does not know.
 * - `values` counts what a parser must allocate: every container, and every
 *   array element and object member (in JSON: each `{`, `[` and `,`).
 */

export interface StructureLimits {
  /** Deepest nesting of containers; the body itself is depth 1. */
  readonly depthMax: number;
  /** Containers plus their items in the whole body. */
  readonly valuesMax: number;
  /** Items of the events array (the body when it is an array, or `events` of the envelope); -1 for no events array. */
  readonly eventsMax: number;
}

/** Why a scan refused a body; the caller turns it into its own error. */
export type ScanFault =
  | { readonly kind: 'depth'; readonly limit: number }
  | { readonly kind: 'values'; readonly limit: number }
  /** `count` is exact for msgpack (a header says it) and a lower bound for JSON. */
  | { readonly kind: 'events'; readonly count: number; readonly exact: boolean; readonly limit: number }
  | { readonly kind: 'extension'; readonly type: number }
  | { readonly kind: 'reserved'; readonly offset: number }
  | { readonly kind: 'key'; readonly offset: number }
  | { readonly kind: 'proto'; readonly offset: number }
  | { readonly kind: 'truncated'; readonly offset: number }
  | { readonly kind: 'trailing'; readonly offset: number };

/**
 * Items per event the derived valuesMax allows on top of tags and
 * properties: the 11 fields of the schema, the event's own container and
 * those of tags and properties, and two fields the schema does not know.
 */
export const VALUES_PER_EVENT_SLACK = 16;

/** The bounds of a body of batchEventsMax events, each with tagsMax tags and propertiesMax properties. */
export function bodyStructureLimits(l: {
  bodyDepthMax: number;
  batchEventsMax: number;
  tagsMax: number;
  propertiesMax: number;
}): StructureLimits {
  return {
    depthMax: l.bodyDepthMax,
    valuesMax: l.batchEventsMax * (VALUES_PER_EVENT_SLACK + l.tagsMax + l.propertiesMax) + VALUES_PER_EVENT_SLACK,
    eventsMax: l.batchEventsMax,
  };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ARRAY = 1;
const OBJECT = 2;

// What a JSON byte outside a string is to the scan; a table lookup per byte is
// about 1.5x faster than a chain of comparisons (bench/actors/decode.bench.ts).
const OTHER = 0;
const STRING = 1;
const COMMA = 2;
const OPEN_ARRAY = 3;
const OPEN_OBJECT = 4;
const CLOSE = 5;
const JSON_CLASS = new Uint8Array(256);
JSON_CLASS[QUOTE] = STRING;
JSON_CLASS[0x2c] = COMMA;
JSON_CLASS[0x5b] = OPEN_ARRAY;
JSON_CLASS[0x7b] = OPEN_OBJECT;
JSON_CLASS[0x5d] = CLOSE;
JSON_CLASS[0x7d] = CLOSE;

/** The bytes of `events`, the envelope's key. */
const EVENTS_KEY = [0x65, 0x76, 0x65, 0x6e, 0x74, 0x73] as const;
/** The bytes of `__proto__`. */
const PROTO_KEY = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f] as const;

function bytesAre(b: Uint8Array, start: number, end: number, expected: readonly number[]): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (b[start + i] !== expected[i]) return false;
  return true;
}

/**
 * Scans JSON text for nesting depth, values and the length of the events
 * array. Strings are skipped (escapes honoured); everything else outside
 * strings is either a bracket, a comma, or left to JSON.parse.
 */
export function scanJson(b: Uint8Array, limits: StructureLimits): ScanFault | undefined {
  const { depthMax, valuesMax, eventsMax } = limits;
  const n = b.length;
  const kinds = new Uint8Array(depthMax + 2);
  let depth = 0;
  let values = 0;
  // The events array: its depth (1 when the body is an array, 2 inside the envelope), and commas seen in it.
  let eventsDepth = -1;
  let eventsCommas = 0;
  // Inside the envelope (an object at depth 1): a string now is a key, and whether the last key was "events".
  let expectKey = false;
  let keyIsEvents = false;
  for (let i = 0; i < n; i++) {
    const k = JSON_CLASS[b[i]!]!;
    if (k === OTHER) continue;
    if (k === STRING) {
      const start = i + 1;
      for (i = start; i < n; i++) {
        const d = b[i]!;
        if (d === QUOTE) break;
        if (d === BACKSLASH) i++;
      }
      if (expectKey) {
        keyIsEvents = bytesAre(b, start, i, EVENTS_KEY);
        expectKey = false;
      }
    } else if (k === COMMA) {
      if (++values > valuesMax) return { kind: 'values', limit: valuesMax };
      if (depth === eventsDepth && eventsMax >= 0 && ++eventsCommas >= eventsMax) {
        // eventsMax commas separate eventsMax + 1 items (a trailing comma is a syntax error anyway).
        return { kind: 'events', count: eventsCommas + 1, exact: false, limit: eventsMax };
      }
      if (depth === 1 && kinds[1] === OBJECT) {
        expectKey = true;
        keyIsEvents = false;
      }
    } else if (k === CLOSE) {
      if (depth === eventsDepth) eventsDepth = -1;
      // An unbalanced close is a syntax error; JSON.parse reports it with its position.
      if (depth > 0) depth--;
    } else {
      if (++depth > depthMax) return { kind: 'depth', limit: depthMax };
      if (++values > valuesMax) return { kind: 'values', limit: valuesMax };
      kinds[depth] = k === OPEN_ARRAY ? ARRAY : OBJECT;
      if (k === OPEN_ARRAY && (depth === 1 || (depth === 2 && keyIsEvents && kinds[1] === OBJECT))) {
        eventsDepth = depth;
        eventsCommas = 0;
      }
      if (depth === 1 && k === OPEN_OBJECT) expectKey = true;
      keyIsEvents = false;
    }
  }
  return undefined;
}

// msgpack token bytes (https://github.com/msgpack/msgpack/blob/master/spec.md#formats).
const FIXMAP_END = 0x8f;
const FIXARRAY_END = 0x9f;
const FIXSTR_END = 0xbf;

/**
 * Walks a msgpack body token by token with an explicit stack (no recursion)
 * and refuses: extension types (ext 8/16/32, fixext 1..16: msgpack
 * timestamps, msgpackr's records, errors, regexps, typed arrays, sets and
 * structured-clone references all travel as extensions), the reserved byte
 * 0xc1, map keys that are not strings, the key `__proto__` (msgpackr renames
 * it to `__proto_`, which would store a key nobody sent), containers past
 * depthMax or valuesMax, an events array longer than eventsMax (from its
 * header, before any event is read), a body cut short, and bytes after the
 * end of the body.
 */
export function scanMsgpack(b: Uint8Array, limits: StructureLimits): ScanFault | undefined {
  const { depthMax, valuesMax, eventsMax } = limits;
  const n = b.length;
  // remaining[d]: values still to read in the container at depth d (a map counts keys and values).
  const remaining = new Float64Array(depthMax + 2);
  const isMap = new Uint8Array(depthMax + 2);
  remaining[0] = 1;
  let depth = 0;
  let values = 0;
  let pos = 0;
  let keyIsEvents = false;
  for (;;) {
    while (depth > 0 && remaining[depth] === 0) depth--;
    if (depth === 0 && remaining[0] === 0) break;
    if (pos >= n) return { kind: 'truncated', offset: pos };
    const level = depth;
    const isKey = isMap[level] === 1 && remaining[level]! % 2 === 0;
    remaining[level]!--;
    const at = pos;
    const t = b[pos++]!;
    let strLength = -1;
    let open = 0; // 1: array, 2: map
    let count = 0;
    if (t < 0x80 || t >= 0xe0) {
      // positive or negative fixint
    } else if (t <= FIXMAP_END) {
      open = 2;
      count = t & 0x0f;
    } else if (t <= FIXARRAY_END) {
      open = 1;
      count = t & 0x0f;
    } else if (t <= FIXSTR_END) {
      strLength = t & 0x1f;
    } else {
      switch (t) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc1:
          return { kind: 'reserved', offset: at };
        case 0xc4:
        case 0xd9:
          if (pos + 1 > n) return { kind: 'truncated', offset: pos };
          strLength = b[pos]!;
          pos += 1;
          break;
        case 0xc5:
        case 0xda:
          if (pos + 2 > n) return { kind: 'truncated', offset: pos };
          strLength = (b[pos]! << 8) | b[pos + 1]!;
          pos += 2;
          break;
        case 0xc6:
        case 0xdb:
          if (pos + 4 > n) return { kind: 'truncated', offset: pos };
          strLength = b[pos]! * 0x1000000 + ((b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!);
          pos += 4;
          break;
        case 0xc7:
        case 0xc8:
        case 0xc9: {
          const lengthBytes = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4;
          return { kind: 'extension', type: pos + lengthBytes < n ? b[pos + lengthBytes]! : -1 };
        }
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          return { kind: 'extension', type: pos < n ? b[pos]! : -1 };
        case 0xca:
        case 0xce:
        case 0xd2:
          pos += 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          pos += 8;
          break;
        case 0xcc:
        case 0xd0:
          pos += 1;
          break;
        case 0xcd:
        case 0xd1:
          pos += 2;
          break;
        case 0xdc:
        case 0xde:
          if (pos + 2 > n) return { kind: 'truncated', offset: pos };
          open = t === 0xdc ? 1 : 2;
          count = (b[pos]! << 8) | b[pos + 1]!;
          pos += 2;
          break;
        case 0xdd:
        case 0xdf:
          if (pos + 4 > n) return { kind: 'truncated', offset: pos };
          open = t === 0xdd ? 1 : 2;
          count = b[pos]! * 0x1000000 + ((b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!);
          pos += 4;
          break;
        default:
          return { kind: 'reserved', offset: at };
      }
    }
    // bin shares the length handling of str above; only str may be a key.
    const isStr = strLength >= 0 && !(t >= 0xc4 && t <= 0xc6);
    if (isKey) {
      if (!isStr) return { kind: 'key', offset: at };
      const end = pos + strLength;
      if (end > n) return { kind: 'truncated', offset: pos };
      if (strLength === PROTO_KEY.length && bytesAre(b, pos, end, PROTO_KEY)) return { kind: 'proto', offset: at };
      if (level === 1) keyIsEvents = bytesAre(b, pos, end, EVENTS_KEY);
    }
    if (strLength >= 0) pos += strLength;
    if (pos > n) return { kind: 'truncated', offset: n };
    if (open !== 0) {
      const isEvents = open === 1 && (level === 0 || (level === 1 && keyIsEvents && !isKey));
      if (isEvents && eventsMax >= 0 && count > eventsMax) return { kind: 'events', count, exact: true, limit: eventsMax };
      values += count + 1;
      if (values > valuesMax) return { kind: 'values', limit: valuesMax };
      if (depth + 1 > depthMax) return { kind: 'depth', limit: depthMax };
      depth++;
      isMap[depth] = open === 2 ? 1 : 0;
      remaining[depth] = open === 2 ? count * 2 : count;
    }
    // A key names the value that follows it, and only that one.
    if (!isKey && level === 1) keyIsEvents = false;
  }
  if (pos !== n) return { kind: 'trailing', offset: pos };
  return undefined;
}
