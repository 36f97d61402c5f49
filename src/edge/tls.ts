/**
 * TLS for the edge: one certificate and key serve HTTPS and wss on httpPort
 * and TLS on grpcPort; a CA bundle, when given, makes both ask every client
 * for a certificate it signed (mutual TLS).
 *
 * Invariants:
 * - The files are read and checked once, at start (createSecureContext
 *   parses them and matches the key to the certificate), so a bad file stops
 *   the process with EVT_CONFIG_INVALID naming the setting, never a listener
 *   that fails each handshake. Changing a file needs a restart.
 * - Both listeners bound the handshake: a peer that opens a connection and
 *   stalls the handshake is cut after handshakeTimeoutMs, like a slow sender
 *   of headers (Node's default would be 120 s).
 * - TLS 1.2 is the oldest version offered; Node's default cipher list.
 */
import { readFileSync } from 'node:fs';
import type { SecureServerOptions } from 'node:http2';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';
import { ConfigError } from '../config.js';

/** The PEM bytes of the configured files. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Set: clients must present a certificate signed by it. */
  readonly ca: Buffer | undefined;
}

export interface TlsSettings {
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly tlsCaFile: string;
}

const MIN_VERSION = 'TLSv1.2';

function readPem(setting: keyof TlsSettings, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError([{ setting, source: 'file', message: `${setting} "${file}": cannot be read (${reason})` }]);
  }
}

/** Reads and checks the files; undefined when TLS is not configured (src/config.ts checks that cert and key come together). */
export function loadTls(settings: TlsSettings): TlsMaterial | undefined {
  if (settings.tlsCertFile === '' || settings.tlsKeyFile === '') return undefined;
  const material: TlsMaterial = {
    cert: readPem('tlsCertFile', settings.tlsCertFile),
    key: readPem('tlsKeyFile', settings.tlsKeyFile),
    ca: settings.tlsCaFile === '' ? undefined : readPem('tlsCaFile', settings.tlsCaFile),
  };
  try {
    createSecureContext(contextOptions(material));
  } catch (err) {
    // OpenSSL's reason ("no start line", "key values mismatch") is the useful part; the files hold no secret in it.
    throw new ConfigError([
      { setting: 'tlsCertFile', source: 'file', message: `tlsCertFile / tlsKeyFile / tlsCaFile: not a usable certificate, key and CA (${(err as Error).message})` },
    ]);
  }
  return material;
}

function contextOptions(material: TlsMaterial): SecureContextOptions {
  return material.ca === undefined
    ? { cert: material.cert, key: material.key, minVersion: MIN_VERSION }
    : { cert: material.cert, key: material.key, ca: material.ca, minVersion: MIN_VERSION };
}

/** fastify's `https` option: the TLS half; the caller adds the HTTP server options (timeouts, header size). */
export function httpsOptions(material: TlsMaterial, handshakeTimeoutMs: number): HttpsServerOptions {
  return {
    ...contextOptions(material),
    requestCert: material.ca !== undefined,
    rejectUnauthorized: material.ca !== undefined,
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/**
 * grpc-js credentials with the same material. Built on ServerCredentials
 * itself rather than createSsl, because createSsl offers no handshake
 * timeout; the constructor options go straight to http2.createSecureServer.
 */
class EdgeServerCredentials extends ServerCredentials {
  constructor(server: SecureServerOptions, context: SecureContextOptions) {
    super(server, context);
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

export function grpcCredentials(material: TlsMaterial | undefined, handshakeTimeoutMs: number): ServerCredentials {
  if (material === undefined) return ServerCredentials.createInsecure();
  return new EdgeServerCredentials(
    { requestCert: material.ca !== undefined, rejectUnauthorized: material.ca !== undefined, handshakeTimeout: handshakeTimeoutMs },
    contextOptions(material),
  );
}
