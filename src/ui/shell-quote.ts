/**
 * Commands ferry prints for a person to copy (a `helm pull` hint, `podman login <host>`) carry
 * values from outside: a scanned kustomization's repo URL, a target's host. Each argument is
 * quoted as the shell reads it, so a crafted `x; curl … | sh` or `$(…)` stays one argument.
 */
// What needs no quoting in bash or POSIX sh.
const PLAIN = /^[A-Za-z0-9@%+=:,./_-]+$/;
// Characters that must not reach a terminal raw (controls, line separators, bidi overrides).
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function ansiC(arg: string): string {
  let out = '';
  for (const c of arg) {
    if (c === "'" || c === '\\') out += `\\${c}`;
    // Its UTF-8 bytes: bash reads `\xHH` as one byte, and `\uHHHH` only in a UTF-8 locale.
    else if (UNPRINTABLE.test(c)) out += [...Buffer.from(c, 'utf8')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
    else out += c;
  }
  return `$'${out}'`;
}

/**
 * One shell word that is `arg` to bash: plain as is, else single-quoted (`'` as `'\''`); an
 * argument with control characters or line separators as bash's `$'…'` with `\xHH` escapes of
 * its UTF-8 bytes, so the printed line is one line and holds no terminal-active byte.
 */
export function shellQuote(arg: string): string {
  if (PLAIN.test(arg)) return arg;
  if (UNPRINTABLE.test(arg)) return ansiC(arg);
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A command line from its arguments, each quoted by `shellQuote`. */
export function shellCommand(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}
