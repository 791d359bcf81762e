import { describe, expect, it } from 'vitest';
import { shellCommand, shellQuote } from '../../src/ui/shell-quote.js';
import { runCommand } from '../support/cli.js';

/**
 * shellQuote against bash itself: a printed command line, read by bash, gives back exactly the
 * arguments it was made from, runs nothing else, and is one line with no terminal-active byte.
 */
const CRAFTED = [
  'plain-1.0',
  '',
  "it's",
  'a b',
  '$(touch pwned)',
  '`id`',
  '"; rm -rf ~; "',
  'line\nbreak',
  'tab\there',
  'nel\u0085ls\u2028ps\u2029',
  'esc\u001b]0;title\u0007',
  'bidi\u202eevil',
  "back\\slash'quote",
  '#comment',
  '~user',
  '*?[a]',
  '{a,b}',
  'bücher.example',
];

describe('shellQuote', () => {
  it('bash reads each crafted value back as one argument, unchanged, and the line holds no control or separator character', async () => {
    const line = shellCommand(['printf', '%s\\0', ...CRAFTED]);
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    const r = await runCommand('bash', ['-c', line], { env: { ...process.env, LC_ALL: 'C' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(CRAFTED);
  });

  it('leaves a plain word as it is', () => {
    expect(shellQuote('charts/nats-2.14.2')).toBe('charts/nats-2.14.2');
    expect(shellQuote('https://charts.example/x')).toBe('https://charts.example/x');
    expect(shellQuote('a b')).toBe("'a b'");
  });
});
