import { describe, expect, it } from 'vitest';
import { checksumsFor, parseChecksums } from '../../src/store/bundle-pack.js';

// checksumsFor finds one file's lines without parsing the whole list; it must read them as
// parseChecksums does (the full check), or a crafted list could say one thing to the lock check
// and another to `bundle verify`.
const A = 'a'.repeat(64);
const B = 'B'.repeat(64);
const C = 'c'.repeat(64);
const NAME = 'ferry/lock.json';

/** What parseChecksums' lines say about `name`, in order (every line naming it, last one wins there). */
function byFullParse(text: string, name: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const { sums } = parseChecksums(line);
    if (sums.has(name)) out.push(sums.get(name)!);
  }
  return out;
}

const lists: Record<string, string> = {
  plain: `${A}  blobs/sha256/${C}\n${B}  ${NAME}\n`,
  'binary marker': `${B} *${NAME}\n`,
  'dot slash': `${B}  ./${NAME}\n`,
  'escaped line': `\\${B}  ${NAME}\n`,
  'no final newline': `${A}  x\n${B}  ${NAME}`,
  'listed twice': `${A}  ${NAME}\n${B}  ${NAME}\n`,
  'a longer name ending so': `${A}  x${NAME}\n${B}  dir/${NAME}\n`,
  'name then more': `${A}  ${NAME}.bak\n${A}  ${NAME}x\n`,
  'carriage return': `${A}  ${NAME}\r\n`,
  'bad hash': `${'g'.repeat(64)}  ${NAME}\n${A.slice(1)}  ${NAME}\n`,
  'one space': `${A} ${NAME}\n`,
  'at the very start, no hash': `${NAME}\n${A}  ${NAME}\n`,
  empty: '',
  'multibyte before': `${A}  dé/${NAME}\n${B}  ${NAME}\n`,
};

describe('checksumsFor', () => {
  for (const [what, text] of Object.entries(lists)) {
    it(`reads "${what}" as parseChecksums does`, () => {
      expect(checksumsFor(Buffer.from(text, 'utf8'), NAME)).toEqual(byFullParse(text, NAME));
    });
  }

  it('says a file listed twice twice, as parseChecksums reports it', () => {
    const text = lists['listed twice'];
    expect(checksumsFor(Buffer.from(text), NAME)).toEqual([A, B.toLowerCase()]);
    expect(parseChecksums(text).problems.map((p) => p.message)).toContain(`${NAME} listed twice`);
  });

  it('finds names that need escaping by parsing every line', () => {
    const text = `\\${A}  we\\nird\\\\name\n${B}  other\n`;
    expect(checksumsFor(Buffer.from(text), 'we\nird\\name')).toEqual([A]);
  });

  it('stays linear on a list made of the name over and over', () => {
    const text = `${NAME}`.repeat(200_000) + `\n${A}  ${NAME}\n`;
    expect(checksumsFor(Buffer.from(text), NAME)).toEqual([A]);
  });
});
