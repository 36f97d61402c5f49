/**
 * A JSON reader for batch bodies that does, in one pass over the bytes, what
 * the scan (scan.ts), the UTF-8 decode of the whole body and JSON.parse do in
 * three: it reads `[event, ...]` and `{ "events": [...], ... }` straight into
 * the plain objects the validator reads, with the strings that repeat from
 * event to event (names, categories, tags, property keys and short values)
 * served from a cache keyed by their bytes, as the protobuf reader does.
 * Measured against the three passes in bench/actors/decode.bench.ts.
 *
 * Invariants:
 * - It either returns what JSON.parse would return for the body in
 *   everything the validator reads (every schema field of every event, the
 *   objects and arrays in them with their keys in order, the envelope's
 *   members; see the next points for what differs in an event object),
 *   or it gives up (returns undefined) and decode.ts takes the scan +
 *   JSON.parse path, which produces every error message. So it never
 *   decides that a body is invalid, and what it accepts is what the scan
 *   and JSON.parse accept.
 * - It gives up before building anything the scan would have refused: it
 *   counts depth, values (every `{`, `[` and `,` outside strings, as the scan
 *   does) and the items of the events array, and stops at the scan's limits.
 *   It also gives up on any other container of more than `itemsMax` items
 *   (fast-read.ts), which no valid event has.
 * - An event object is built with the schema's fields only (absent ones
 *   undefined, as the protobuf reader leaves them): the validator reads
 *   nothing else, and reads undefined as absent. Other keys of an event are
 *   read (their syntax checked) and dropped. Objects inside an event
 *   (`properties`, and any unknown value) and the envelope are built key by
 *   key, so a repeated key keeps its first place and its last value, as with
 *   JSON.parse; the key `__proto__` there makes it give up (an assignment
 *   would set the prototype where JSON.parse defines a property).
 * - It gives up on: a body that is one event (small, not worth a second
 *   path), an envelope without `events` or with it twice or not an array,
 *   a byte-order mark, any syntax error, a control character in a string.
 *   Escapes and non-ASCII strings are read (an escaped string is handed to
 *   JSON.parse on its own; UTF-8 is decoded strictly, as decode.ts decodes a
 *   whole body, and invalid UTF-8 gives up).
 */
import { Buffer } from 'node:buffer';
import {
  F_ID,
  F_USER_ID,
  F_NAME,
  F_TIMESTAMP,
  F_SENT_AT,
  F_CATEGORY,
  F_SEVERITY,
  F_TAGS,
  F_PROPERTIES,
  F_VALUE,
  FIELD_KEYS,
  FIELD_NAMES,
  EventFields,
  fieldOf,
  fromCache,
  GIVE_UP,
  hashStep,
  SHORT_STRING_BYTES_MAX,
  asBuffer,
  readOrGiveUp,
  type FastReadLimits,
  type OnePassCounts,
  type Latin1Slicer,
} from './fast-read.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** Whitespace JSON allows between tokens: space, tab, line feed, carriage return. */
/** Fraction digits the exact path takes: 10^22 is the largest power of ten a double holds exactly. */
const FRACTION_DIGITS_MAX = 22;
/** POW10[k] = 10^k, exact for k <= 22. */
const POW10 = Array.from({ length: FRACTION_DIGITS_MAX + 1 }, (_, k) => 10 ** k);

const IS_SPACE = new Uint8Array(256);
IS_SPACE[0x20] = 1;
IS_SPACE[0x09] = 1;
IS_SPACE[0x0a] = 1;
IS_SPACE[0x0d] = 1;

/**
 * Bytes that end the fast run of a string: the closing quote, a backslash,
 * control characters (not allowed raw in JSON) and every non-ASCII byte.
 */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
STRING_STOP[QUOTE] = 1;
STRING_STOP[BACKSLASH] = 1;
for (let c = 0x80; c < 0x100; c++) STRING_STOP[c] = 1;

/** The schema field a key starting at `start` would be, from its first bytes (field() checks the rest); -1 for none. */
function guessField(b: Buffer, start: number): number {
  switch (b[start]) {
    case 0x69: // i
      return F_ID;
    case 0x6e: // n
      return F_NAME;
    case 0x74: // t: tags, timestamp
      return b[start + 1] === 0x61 ? F_TAGS : F_TIMESTAMP;
    case 0x73: // s: sentAt, severity
      return b[start + 2] === 0x6e ? F_SENT_AT : F_SEVERITY;
    case 0x75: // u
      return F_USER_ID;
    case 0x63: // c
      return F_CATEGORY;
    case 0x70: // p
      return F_PROPERTIES;
    case 0x76: // v
      return F_VALUE;
    default:
      return -1;
  }
}

/**
 * True when one of the four bytes of `w` ends a plain run of a string: a
 * quote, a backslash, a control character or a byte of 0x80 and above
 * (STRING_STOP as a word test; the zero-byte tests are exact for "some byte").
 */
export function stopsWord(w: number): boolean {
  const quote = w ^ 0x22222222;
  const backslash = w ^ 0x5c5c5c5c;
  return (
    ((w & 0x80808080) |
      ((w - 0x20202020) & ~w & 0x80808080) |
      ((quote - 0x01010101) & ~quote & 0x80808080) |
      ((backslash - 0x01010101) & ~backslash & 0x80808080)) !==
    0
  );
}

/** Strict, and keeps a U+FEFF inside a string (only the body's first one is a byte-order mark). */
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** How often each way was taken since the thread started (worker-telemetry.ts reports it: eventide_decode_one_pass_total). */
export const jsonFastCounts: OnePassCounts = { read: 0, gaveUp: 0 };

/**
 * The body's value as JSON.parse would return it, or undefined when this
 * reader gives up (the caller then scans and parses the body).
 */
export function readJsonFast(bytes: Uint8Array, limits: FastReadLimits): unknown {
  return readOrGiveUp(new Reader(asBuffer(bytes), limits), jsonFastCounts);
}

class Reader {
  pos = 0;
  private values = 0;
  private readonly n: number;
  private readonly depthMax: number;
  private readonly valuesMax: number;
  private readonly eventsMax: number;
  private readonly itemsMax: number;
  private readonly fields = new EventFields();
  /** The body as little-endian 32-bit words at any offset, for string() and plainEnd(). */
  private readonly view: DataView;

  constructor(
    private readonly b: Buffer,
    limits: FastReadLimits,
  ) {
    this.n = b.length;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.depthMax = limits.depthMax;
    this.valuesMax = limits.valuesMax;
    this.eventsMax = limits.eventsMax;
    this.itemsMax = limits.itemsMax;
  }

  body(): unknown {
    this.space();
    const c = this.b[this.pos];
    let value: unknown;
    if (c === OPEN_ARRAY) value = this.events(1);
    else if (c === OPEN_OBJECT) value = this.envelope();
    else throw GIVE_UP;
    this.space();
    if (this.pos !== this.n) throw GIVE_UP;
    return value;
  }

  private space(): void {
    const b = this.b;
    let pos = this.pos;
    while (pos < this.n && IS_SPACE[b[pos]!] === 1) pos++;
    this.pos = pos;
  }

  /** A `{` or `[` at `depth` (the body is 1): counted as the scan counts it. */
  private open(depth: number): void {
    if (depth > this.depthMax || ++this.values > this.valuesMax) throw GIVE_UP;
    this.pos++;
  }

  private comma(): void {
    if (++this.values > this.valuesMax) throw GIVE_UP;
    this.pos++;
  }

  /** After a member or an item: true for a comma (consumed), false for `close` (consumed). */
  private next(close: number): boolean {
    this.space();
    const c = this.b[this.pos];
    if (c === COMMA) {
      this.comma();
      return true;
    }
    if (c !== close) throw GIVE_UP;
    this.pos++;
    return false;
  }

  /** A key and its colon; the position is then at the value. */
  private key(): string {
    this.space();
    if (this.b[this.pos] !== QUOTE) throw GIVE_UP;
    const key = this.string(true);
    this.colon();
    return key;
  }

  private colon(): void {
    this.space();
    if (this.b[this.pos] !== COLON) throw GIVE_UP;
    this.pos++;
    this.space();
  }

  /** `{ "events": [...], ... }`: other members are kept as JSON.parse keeps them (decode.ts reads batchId). */
  private envelope(): Record<string, unknown> {
    this.open(1);
    const out: Record<string, unknown> = {};
    let sawEvents = false;
    this.space();
    if (this.b[this.pos] === CLOSE_OBJECT) throw GIVE_UP;
    let items = 0;
    do {
      if (++items > this.itemsMax) throw GIVE_UP;
      this.space();
      if (this.b[this.pos] !== QUOTE) throw GIVE_UP;
      const key = this.string(true);
      this.colon();
      if (key === 'events') {
        if (sawEvents || this.b[this.pos] !== OPEN_ARRAY) throw GIVE_UP;
        sawEvents = true;
        out[key] = this.events(2);
      } else {
        if (key === '__proto__') throw GIVE_UP;
        out[key] = this.value(1);
      }
    } while (this.next(CLOSE_OBJECT));
    if (!sawEvents) throw GIVE_UP;
    return out;
  }

  /**
   * The events array, whose `[` is at `depth`. Kept apart from array(): one
   * function for both, with a flag, read 4-10 % slower in an interleaved
   * loop (the hot events loop then shares its type feedback with every tags
   * array).
   */
  private events(depth: number): unknown[] {
    this.open(depth);
    const out: unknown[] = [];
    this.space();
    if (this.b[this.pos] === CLOSE_ARRAY) {
      this.pos++;
      return out;
    }
    do {
      if (out.length >= this.eventsMax) throw GIVE_UP;
      this.space();
      out.push(this.b[this.pos] === OPEN_OBJECT ? this.event(depth + 1) : this.value(depth));
    } while (this.next(CLOSE_ARRAY));
    return out;
  }

  /** One event object at `depth`, built with the schema's fields in one shape. */
  private event(depth: number): Record<string, unknown> {
    this.open(depth);
    const fields = this.fields;
    fields.clear();
    this.space();
    if (this.b[this.pos] === CLOSE_OBJECT) {
      this.pos++;
    } else {
      do {
        this.space();
        if (this.b[this.pos] !== QUOTE) throw GIVE_UP;
        const field = this.field();
        this.colon();
        // Ids and user ids seldom repeat: kept out of the cache, where they would only evict names.
        fields.set(field, this.value(depth, field !== F_ID && field !== F_USER_ID));
      } while (this.next(CLOSE_OBJECT));
    }
    return fields.build();
  }

  /** Which schema field the key at the position (a `"`) names; consumes it. */
  private field(): number {
    const b = this.b;
    const start = this.pos + 1;
    // The schema's keys, guessed from their first bytes and checked through the closing quote: one pass.
    const guess = guessField(b, start);
    if (guess >= 0) {
      const expected = FIELD_KEYS[guess]!;
      const n = expected.length;
      let i = 0;
      while (i < n && b[start + i] === expected[i]) i++;
      if (i === n && b[start + n] === QUOTE) {
        this.pos = start + n + 1;
        return guess;
      }
    }
    // Another key (or one with escapes): found to its end, then told apart as before.
    let end = start;
    while (end < this.n && STRING_STOP[b[end]!] === 0) end++;
    if (b[end] !== QUOTE) {
      // Escaped or non-ASCII: read it whole and compare the text.
      return FIELD_NAMES.indexOf(this.string(false));
    }
    this.pos = end + 1;
    return fieldOf(b, start, end);
  }

  /** Any JSON value; containers opened here are at `depth` + 1; `cached`: see string(). */
  private value(depth: number, cached = true): unknown {
    const b = this.b;
    const c = b[this.pos];
    switch (c) {
      case QUOTE:
        return this.string(cached);
      case OPEN_OBJECT:
        return this.object(depth + 1);
      case OPEN_ARRAY:
        return this.array(depth + 1);
      case 0x74: // t
        this.literal(0x72, 0x75, 0x65, -1);
        return true;
      case 0x66: // f
        this.literal(0x61, 0x6c, 0x73, 0x65);
        return false;
      case 0x6e: // n
        this.literal(0x75, 0x6c, 0x6c, -1);
        return null;
      default:
        if (c === MINUS || (c !== undefined && c >= ZERO && c <= NINE)) return this.number();
        throw GIVE_UP;
    }
  }

  /** The rest of true / false / null after its first byte (-1: no fourth byte). */
  private literal(c1: number, c2: number, c3: number, c4: number): void {
    const b = this.b;
    const p = this.pos;
    if (b[p + 1] !== c1 || b[p + 2] !== c2 || b[p + 3] !== c3) throw GIVE_UP;
    if (c4 === -1) {
      this.pos = p + 4;
    } else {
      if (b[p + 4] !== c4) throw GIVE_UP;
      this.pos = p + 5;
    }
  }

  private object(depth: number): Record<string, unknown> {
    this.open(depth);
    const out: Record<string, unknown> = {};
    this.space();
    if (this.b[this.pos] === CLOSE_OBJECT) {
      this.pos++;
      return out;
    }
    let items = 0;
    do {
      if (++items > this.itemsMax) throw GIVE_UP;
      const key = this.key();
      if (key === '__proto__') throw GIVE_UP;
      out[key] = this.value(depth);
    } while (this.next(CLOSE_OBJECT));
    return out;
  }

  /**
   * Arrays of up to three items (tags, mostly) are built at their size: an
   * empty array takes room for 17 items at its first push, ~180 bytes per
   * event for two tags, the largest allocation of the read (a sampling heap
   * profile of the worker path).
   */
  private array(depth: number): unknown[] {
    this.open(depth);
    this.space();
    if (this.b[this.pos] === CLOSE_ARRAY) {
      this.pos++;
      return [];
    }
    const itemsMax = this.itemsMax;
    if (itemsMax < 1) throw GIVE_UP;
    this.space();
    const first = this.value(depth);
    if (!this.next(CLOSE_ARRAY)) return [first];
    if (itemsMax < 2) throw GIVE_UP;
    this.space();
    const second = this.value(depth);
    if (!this.next(CLOSE_ARRAY)) return [first, second];
    if (itemsMax < 3) throw GIVE_UP;
    this.space();
    const third = this.value(depth);
    if (!this.next(CLOSE_ARRAY)) return [first, second, third];
    const out: unknown[] = [first, second, third];
    do {
      if (out.length >= itemsMax) throw GIVE_UP;
      this.space();
      out.push(this.value(depth));
    } while (this.next(CLOSE_ARRAY));
    return out;
  }

  /**
   * A number, checked against JSON's grammar (no leading zeros, no `+`, no
   * bare `.`). Digits are summed here while there are at most 15 of them
   * (exact below 2^53); a fraction of up to 22 digits then divides that
   * integer by 10^digits: both operands are exact doubles and IEEE division
   * rounds once, correctly, so the result is the double nearest the decimal,
   * which is what JSON.parse gives (Clinger's fast path; tested against it on
   * random decimals). Anything else (more digits, an exponent) is converted
   * by Number(), which rounds as JSON.parse does.
   */
  private number(): number {
    const b = this.b;
    const start = this.pos;
    let p = start;
    const negative = b[p] === MINUS;
    if (negative) p++;
    let c = b[p];
    let v = 0;
    if (c === ZERO) {
      p++;
    } else if (c !== undefined && c > ZERO && c <= NINE) {
      do {
        v = v * 10 + (c - ZERO);
        c = b[++p];
      } while (c !== undefined && c >= ZERO && c <= NINE);
    } else {
      throw GIVE_UP;
    }
    const intDigits = p - start - (negative ? 1 : 0);
    let simple = intDigits <= 15;
    let scale = 1;
    if (b[p] === DOT) {
      p++;
      if (!this.digits(p)) throw GIVE_UP;
      const fracStart = p;
      if (simple) {
        c = b[p];
        do {
          v = v * 10 + (c! - ZERO);
          c = b[++p];
        } while (c !== undefined && c >= ZERO && c <= NINE);
        const fracDigits = p - fracStart;
        // A leading 0 before the point is not a significant digit.
        if (fracDigits > FRACTION_DIGITS_MAX || (v === 0 ? 0 : intDigits + fracDigits - (b[start + (negative ? 1 : 0)] === ZERO ? 1 : 0)) > 15) {
          simple = false;
        } else {
          scale = POW10[fracDigits]!;
        }
      } else {
        while (this.digits(p)) p++;
      }
    }
    c = b[p];
    if (c === 0x65 || c === 0x45) {
      simple = false;
      p++;
      c = b[p];
      if (c === 0x2b || c === MINUS) p++;
      if (!this.digits(p)) throw GIVE_UP;
      while (this.digits(p)) p++;
    }
    this.pos = p;
    if (simple) {
      const x = scale === 1 ? v : v / scale;
      return negative ? -x : x;
    }
    return Number((b as unknown as Latin1Slicer).latin1Slice(start, p));
  }

  private digits(p: number): boolean {
    const c = this.b[p];
    return c !== undefined && c >= ZERO && c <= NINE;
  }

  /** Where the run of plain string bytes from `end` stops (a stop byte, or the end of the body); four at a time while it can. */
  private plainEnd(end: number): number {
    const b = this.b;
    const n = this.n;
    const view = this.view;
    while (end + 4 <= n && !stopsWord(view.getUint32(end, true))) end += 4;
    while (end < n && STRING_STOP[b[end]!] === 0) end++;
    return end;
  }

  /**
   * The string whose opening quote is at the position; consumes it and its
   * closing quote. `cached`: a string likely to repeat (not an id), served
   * from the cache when it is short and ASCII.
   */
  private string(cached: boolean): string {
    const b = this.b;
    const n = this.n;
    const start = this.pos + 1;
    let end = start;
    const view = this.view;
    if (cached) {
      // Hashed while it may still be short enough for the cache, then only searched; four plain bytes at a
      // time while there are four (one hash step per word), then byte by byte. The hash depends only on the
      // string's bytes: its words end at the first word holding a stop byte, which the closing quote is.
      const hashEnd = Math.min(n, start + SHORT_STRING_BYTES_MAX + 1);
      let h = 0;
      let c = 0;
      while (end + 4 <= hashEnd) {
        const w = view.getUint32(end, true);
        if (stopsWord(w)) break;
        h = hashStep(h, w);
        end += 4;
      }
      while (end < hashEnd && STRING_STOP[(c = b[end]!)] === 0) {
        h = hashStep(h, c);
        end++;
      }
      if (end < hashEnd && c === QUOTE) {
        this.pos = end + 1;
        return fromCache(b, start, end, h, view);
      }
      end = this.plainEnd(end);
      if (end < n && b[end] === QUOTE) {
        this.pos = end + 1;
        return (b as unknown as Latin1Slicer).latin1Slice(start, end);
      }
    } else {
      end = this.plainEnd(end);
      if (end < n && b[end] === QUOTE) {
        this.pos = end + 1;
        return (b as unknown as Latin1Slicer).latin1Slice(start, end);
      }
    }
    // The slow part: escapes, non-ASCII bytes, or a control character (not allowed).
    let escaped = false;
    let wide = false;
    for (; end < n; end++) {
      const c = b[end]!;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        escaped = true;
        end++;
      } else if (c < 0x20) {
        throw GIVE_UP;
      } else if (c >= 0x80) {
        wide = true;
      }
    }
    if (end >= n) throw GIVE_UP;
    this.pos = end + 1;
    let text: string;
    try {
      if (!escaped) return utf8.decode(b.subarray(start, end));
      // With its quotes, the string is a JSON text of its own: JSON.parse reads the escapes as it would in the body.
      text = wide ? utf8.decode(b.subarray(start - 1, end + 1)) : (b as unknown as Latin1Slicer).latin1Slice(start - 1, end + 1);
      return JSON.parse(text) as string;
    } catch {
      throw GIVE_UP;
    }
  }
}
