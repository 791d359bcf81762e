import { tarHeader, tarPadding } from '../../src/store/tar-index.js';

/** Tar headers no ferry bundle has, for the tar index tests: other type flags, PAX records. */

/** Recompute a header block's checksum (after editing its fields); the data after the block is kept. */
export function rechecksum(block: Buffer): Buffer {
  const h = Buffer.from(block.subarray(0, 512));
  h.write('        ', 148, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return Buffer.concat([h, block.subarray(512)]);
}

/** Re-stamp a header block's type flag (tarHeader writes '0' or '5'). */
export function retype(block: Buffer, type: string): Buffer {
  const h = Buffer.from(block);
  h.write(type, 156, 'latin1');
  return rechecksum(h);
}

/** One PAX record, `<len> <key>=<value>\n`, its length counting itself. */
export function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

/** A PAX extended header ('x') holding `records`, padded to whole blocks. */
export function paxHeader(records: string): Buffer {
  const data = Buffer.from(records);
  return retype(Buffer.concat([tarHeader('PaxHeaders/x', data.length, 'file'), data, tarPadding(data.length)]), 'x');
}

/**
 * A lock.json pinning each named top-level descriptor (its `ref.name`) as an image with that
 * digest: what a hand-made bundle carries so that import and serve, which refuse an index.json
 * entry the lock does not pin, get to the check a test is about.
 */
export function lockPinningImages(tops: ReadonlyArray<{ digest?: string; mediaType?: string; size?: number; annotations?: Record<string, string> }>): string {
  return JSON.stringify({
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: `sha256:${'0'.repeat(64)}` },
    images: tops
      .filter((t) => t.annotations?.['org.opencontainers.image.ref.name'])
      .map((t) => ({ source: t.annotations!['org.opencontainers.image.ref.name'], ref: t.annotations!['org.opencontainers.image.ref.name'], digest: t.digest, mediaType: t.mediaType, size: t.size, manifests: [], blobs: [] })),
  });
}
