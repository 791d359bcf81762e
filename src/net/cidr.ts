import { isIP } from 'node:net';

// CIDR blocks for NO_PROXY (net/http.ts) and audit's zone CIDRs (audit/audit.ts): one matcher.

/** An IP literal's bytes (IPv4: 4, IPv6: 16), or undefined for a name. */
export function ipBytes(ip: string): number[] | undefined {
  const kind = isIP(ip);
  if (kind === 4) return ip.split('.').map(Number);
  if (kind !== 6) return undefined;
  // A trailing dotted quad (::ffff:10.1.2.3) is two groups: parse it as 0:0, then put it back.
  const quad = trailingQuad(ip);
  const text = quad ? `${ip.slice(0, quad.index)}0:0` : ip;
  const [head, rest] = text.split('::');
  const h = head ? head.split(':') : [];
  const r = rest ? rest.split(':') : [];
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill('0'), ...r];
  const bytes = groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
  if (quad) bytes.splice(12, 4, ...quad.parts.map(Number));
  return bytes;
}

/**
 * The dotted quad at the end of `s`, where it starts: what `/(\d+)\.(\d+)\.(\d+)\.(\d+)$/` matches,
 * read from the end (that regex is quadratic on a long run of digits, as in a zone id).
 */
export function trailingQuad(s: string): { index: number; parts: string[] } | undefined {
  const parts: string[] = [];
  let end = s.length;
  for (;;) {
    let i = end;
    while (i > 0 && s.charCodeAt(i - 1) >= 48 && s.charCodeAt(i - 1) <= 57) i--;
    if (i === end) return undefined;
    parts.unshift(s.slice(i, end));
    if (parts.length === 4) return { index: i, parts };
    if (i === 0 || s[i - 1] !== '.') return undefined;
    end = i - 1;
  }
}

/** Whether IP-literal `host` lies in `cidr` (`10.0.0.0/8`, `fd00::/8`); a name never does (no DNS lookup, as curl and Go). */
export function inCidr(host: string, cidr: string): boolean {
  const m = /^\[?([^\]/]+)\]?\/(\d{1,3})$/.exec(cidr);
  if (!m) return false;
  let a = ipBytes(host);
  const b = ipBytes(m[1]);
  if (!a || !b) return false;
  // An IPv4-mapped IPv6 host (::ffff:10.1.2.3) against an IPv4 block.
  if (a.length === 16 && b.length === 4 && a.slice(0, 10).every((x) => x === 0) && a[10] === 0xff && a[11] === 0xff) a = a.slice(12);
  if (a.length !== b.length) return false;
  const bits = Number(m[2]);
  if (bits > a.length * 8) return false;
  const ma = maskedBytes(a, bits);
  const mb = maskedBytes(b, bits);
  return ma.every((x, i) => x === mb[i]);
}

/** An address's bytes with all but the first `bits` bits cleared (the network of `address/bits`). */
export function maskedBytes(bytes: readonly number[], bits: number): number[] {
  return bytes.map((b, i) => {
    const n = Math.min(8, Math.max(0, bits - i * 8));
    return n === 0 ? 0 : b & ((0xff << (8 - n)) & 0xff);
  });
}
