import { open } from 'node:fs/promises';

/**
 * An independent, minimal ustar walker for tests (so tests that damage a bundle do not rely on
 * ferry's own reader to find the bytes): name → data offset and size. Handles PAX `path`.
 */
export async function tarEntries(file: string): Promise<Map<string, { offset: number; size: number }>> {
  const fh = await open(file, 'r');
  const out = new Map<string, { offset: number; size: number }>();
  try {
    const header = Buffer.alloc(512);
    let pos = 0;
    let paxPath: string | undefined;
    for (;;) {
      const { bytesRead } = await fh.read(header, 0, 512, pos);
      if (bytesRead < 512 || header.every((b) => b === 0)) break;
      const field = (o: number, l: number) => header.subarray(o, o + l).toString('utf8').replace(/\0.*$/s, '');
      const size = parseInt(field(124, 12).trim() || '0', 8);
      const type = String.fromCharCode(header[156] || 48);
      const prefix = field(345, 155);
      const name = paxPath ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
      const dataOffset = pos + 512;
      if (type === 'x') {
        const body = Buffer.alloc(size);
        await fh.read(body, 0, size, dataOffset);
        const m = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
        paxPath = m?.[1];
      } else {
        if (type === '0' || type === '\0') out.set(name.replace(/^\.\//, ''), { offset: dataOffset, size });
        paxPath = undefined;
      }
      pos = dataOffset + Math.ceil(size / 512) * 512;
    }
  } finally {
    await fh.close();
  }
  return out;
}

/** Flip one byte of an entry's data in place (at `at` bytes into the entry). */
export async function flipByte(file: string, entry: string, at = 0): Promise<void> {
  const e = (await tarEntries(file)).get(entry);
  if (!e) throw new Error(`${file}: no entry ${entry}`);
  const fh = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, e.offset + at);
    b[0] ^= 0xff;
    await fh.write(b, 0, 1, e.offset + at);
  } finally {
    await fh.close();
  }
}
