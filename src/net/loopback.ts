/**
 * Hosts that can only be this machine: `localhost` and any `*.localhost` name (RFC 6761),
 * `127.0.0.0/8` and `[::1]`, with or without a port. Used for the plain-HTTP fallback and
 * for allowing `http://` to a mirror target without `insecure: true`.
 *
 * The host is read as a URL host (`URL.host` form): IPv4 and IPv6 literals are normalised the
 * way a request would normalise them (`[0:0:0:0:0:0:0:1]` is `[::1]`), a trailing dot is
 * ignored, and anything with a path, user info or an invalid port is not loopback.
 */
export function isLoopbackHost(host: string): boolean {
  if (!host || /[\s/\\?#@]/.test(host)) return false;
  let name: string;
  try {
    name = new URL(`http://${host}`).hostname;
  } catch {
    return false;
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  return name === 'localhost' || name.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) || name === '[::1]';
}
