/**
 * Content-type parsers for the ingest route that do not parse. They collect
 * the request stream into one Buffer and tag it with its format and encoding;
 * the shard actor decodes it. This keeps the edge's event loop an I/O router.
 *
 * Invariants:
 * - The Buffer handed on owns its whole ArrayBuffer (byteOffset 0, byteLength
 *   equal to the ArrayBuffer's), so the runtime may put `bytes.buffer` in a
 *   postMessage transfer list. A pooled Buffer (Buffer.from, Buffer.concat of
 *   small sizes) shares an 8 KiB slab with unrelated data; transferring it
 *   would detach that slab under everyone else's feet.
 * - At most bodyBytesMax bytes are ever held for one request: a declared
 *   Content-Length over it is refused before reading, a chunked body is
 *   refused as soon as the count passes it.
 * - A body whose length differs from its Content-Length, or that is cut off,
 *   is an error (EVT_BODY_LENGTH_MISMATCH), never a partial body and never a
 *   request left hanging: the callback runs exactly once.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { BodyEncoding, BodyFormat } from '../actors/types.js';
import { BodyLengthMismatchError, RequestBodyTooLargeError, UnsupportedMediaTypeError } from './errors.js';

/** A request body as routed: raw bytes plus what they claim to be. */
export interface RawBody {
  bytes: Buffer;
  format: BodyFormat;
  encoding: BodyEncoding;
}

/**
 * Media types routed to each format. `application/octet-stream` is left out on
 * purpose: it names no format, and guessing between msgpack and protobuf from
 * the bytes would turn a client's mistake into a confusing decode error.
 */
export const MEDIA_TYPES: Readonly<Record<string, BodyFormat>> = Object.freeze({
  'application/json': 'json',
  'application/msgpack': 'msgpack',
  'application/x-msgpack': 'msgpack',
  'application/vnd.msgpack': 'msgpack',
  'application/x-protobuf': 'protobuf',
  'application/protobuf': 'protobuf',
  'application/vnd.google.protobuf': 'protobuf',
});

/** Limits met, counted by kind; shared by every parser of one server. */
export interface RawBodyStats {
  tooLarge: number;
  lengthMismatch: number;
  unsupportedMediaType: number;
  /** Connections closed on arrival because httpConnectionsMax were open (counted by the HTTP server, kept here with the other refusals). */
  connectionsDropped: number;
}

export function createRawBodyStats(): RawBodyStats {
  return { tooLarge: 0, lengthMismatch: 0, unsupportedMediaType: 0, connectionsDropped: 0 };
}

/** The format of a Content-Type header value (parameters such as charset ignored), or undefined. */
export function formatOfContentType(contentType: string | undefined): BodyFormat | undefined {
  if (contentType === undefined) return undefined;
  const semicolon = contentType.indexOf(';');
  const essence = (semicolon === -1 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return Object.hasOwn(MEDIA_TYPES, essence) ? MEDIA_TYPES[essence] : undefined;
}

/**
 * The body's Content-Encoding. Only identity and gzip pass: the worker inflates
 * gzip with bodyInflatedBytesMax as its bound. Stacked encodings are refused.
 */
export function encodingOf(headers: IncomingHttpHeaders): BodyEncoding {
  const header = headers['content-encoding'];
  if (header === undefined) return 'identity';
  const value = header.trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  if (value === 'gzip' || value === 'x-gzip') return 'gzip';
  throw new UnsupportedMediaTypeError(`Content-Encoding "${value.slice(0, 64)}" is not supported; use identity or gzip`, 'content-encoding');
}

/** The declared Content-Length, or undefined for a chunked body. Node has already refused malformed values. */
export function contentLengthOf(headers: IncomingHttpHeaders): number | undefined {
  const header = headers['content-length'];
  if (header === undefined) return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

export type CollectCallback = (err: Error | null, bytes?: Buffer) => void;

/**
 * Read a stream into one unpooled Buffer of at most `bytesMax` bytes.
 * With a known length the bytes are copied straight into their final buffer
 * (one allocation, one copy); without one, chunks are kept and concatenated
 * once at the end into an unpooled buffer.
 */
export function collectBody(
  stream: Readable,
  contentLength: number | undefined,
  bytesMax: number,
  done: CollectCallback,
  stats?: RawBodyStats,
): void {
  if (contentLength !== undefined && contentLength > bytesMax) {
    if (stats) stats.tooLarge++;
    done(new RequestBodyTooLargeError(bytesMax));
    return;
  }
  const sized = contentLength === undefined ? undefined : Buffer.allocUnsafeSlow(contentLength);
  const chunks: Buffer[] = [];
  let received = 0;
  let settled = false;

  const finish = (err: Error | null, bytes?: Buffer): void => {
    if (settled) return;
    settled = true;
    stream.removeListener('data', onData);
    stream.removeListener('end', onEnd);
    stream.removeListener('error', onError);
    stream.removeListener('close', onClose);
    if (err !== null) {
      if (err instanceof RequestBodyTooLargeError) {
        if (stats) stats.tooLarge++;
      } else if (stats) {
        stats.lengthMismatch++;
      }
      // Stop buffering a body we will not use; the reply goes out with
      // `Connection: close`, so the rest of it is never read.
      stream.pause();
    }
    done(err, bytes);
  };

  function onData(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const next = received + buf.length;
    if (sized !== undefined) {
      if (next > sized.length) {
        finish(new BodyLengthMismatchError(`the body is longer than its Content-Length of ${sized.length} bytes`));
        return;
      }
      buf.copy(sized, received);
    } else {
      if (next > bytesMax) {
        finish(new RequestBodyTooLargeError(bytesMax));
        return;
      }
      chunks.push(buf);
    }
    received = next;
  }

  function onEnd(): void {
    if (sized !== undefined) {
      if (received !== sized.length) {
        finish(new BodyLengthMismatchError(`the body has ${received} bytes, its Content-Length says ${sized.length}`));
        return;
      }
      finish(null, sized);
      return;
    }
    const out = Buffer.allocUnsafeSlow(received);
    let offset = 0;
    for (const chunk of chunks) {
      chunk.copy(out, offset);
      offset += chunk.length;
    }
    finish(null, out);
  }

  function onError(): void {
    finish(new BodyLengthMismatchError(`the connection ended after ${received} bytes of the body`));
  }

  // 'close' before 'end' means the peer went away mid-body.
  function onClose(): void {
    finish(new BodyLengthMismatchError(`the connection ended after ${received} bytes of the body`));
  }

  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('error', onError);
  stream.on('close', onClose);
  stream.resume();
}

export interface RawBodyOptions {
  /** Bytes on the wire per request; more is 413 EVT_BODY_TOO_LARGE. */
  bodyBytesMax: number;
  stats?: RawBodyStats;
}

/**
 * Replace the content-type parsers of `app`'s encapsulation context (call it
 * inside the plugin that holds the ingest route, so other routes keep their
 * parsed-JSON bodies). Known media types produce a RawBody; anything else,
 * including a missing Content-Type on a non-empty body, is 415.
 */
export function registerRawBodyParsers(app: FastifyInstance, options: RawBodyOptions): void {
  const { bodyBytesMax, stats } = options;
  app.removeAllContentTypeParsers();

  const parse = (request: FastifyRequest, payload: Readable, done: (err: Error | null, body?: RawBody) => void): void => {
    const format = formatOfContentType(request.headers['content-type']);
    if (format === undefined) {
      // Unreachable through fastify's matching, but keeps the parser honest if reused.
      if (stats) stats.unsupportedMediaType++;
      done(unsupportedType(request.headers['content-type']));
      return;
    }
    let encoding: BodyEncoding;
    try {
      encoding = encodingOf(request.headers);
    } catch (err) {
      if (stats) stats.unsupportedMediaType++;
      done(err as Error);
      return;
    }
    collectBody(payload, contentLengthOf(request.headers), bodyBytesMax, (err, bytes) => {
      if (err !== null || bytes === undefined) done(err ?? new Error('no body'));
      else done(null, { bytes, format, encoding });
    }, stats);
  };

  app.addContentTypeParser(Object.keys(MEDIA_TYPES), parse);
  app.addContentTypeParser('*', (request: FastifyRequest, _payload: Readable, done: (err: Error | null) => void) => {
    if (stats) stats.unsupportedMediaType++;
    done(unsupportedType(request.headers['content-type']));
  });
}

function unsupportedType(contentType: string | undefined): UnsupportedMediaTypeError {
  const shown = contentType === undefined ? 'none' : `"${contentType.slice(0, 64)}"`;
  return new UnsupportedMediaTypeError(
    `Content-Type ${shown} is not supported; use one of ${Object.keys(MEDIA_TYPES).join(', ')}`,
    'content-type',
  );
}
