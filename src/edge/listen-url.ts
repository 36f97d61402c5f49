/**
 * The host part of a URL that reaches a listener bound to `host`: an IPv6
 * literal goes in brackets (`http://::1:8080` is not a URL), and the
 * unspecified addresses (`0.0.0.0`, `::`), which a listener binds but a
 * client should not dial, become the loopback of their family.
 */
export function dialHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  if (host.includes(':') && !host.startsWith('[')) return `[${host}]`;
  return host;
}

/** The host part of an address to bind: an IPv6 literal (`::`, `::1`) in brackets, as `host:port` parsers need. */
export function bindHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
