import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderRaw } from '../../../../scripts/oracle/ferry-raw.js';
import { writeChart } from '../helpers.js';
import { run } from './run-template.js';

// Eighteenth pass: what the seventeenth left. Each expectation is what Helm 3.14 gives (Go
// text/template, sprig v3.2.3), checked with the independent Go renderer.

const out = (t: string, data: unknown = {}): string => {
  try {
    return run(t, data);
  } catch (e) {
    return `ERR ${(e as Error).message}`;
  }
};
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle18-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The template's raw output as Helm's engine gives it (Helm's functions too), or its error thrown. */
async function render(name: string, template: string, values: string): Promise<string> {
  const dir = await writeChart(path.join(tmp, name), { chart: { name, version: '1.0.0' }, values, files: { 'templates/t.yaml': template } });
  const r = await renderRaw(dir);
  if (r.err !== undefined || r.crash !== undefined) throw new Error(r.err ?? r.crash);
  return r.ok![`${name}/templates/t.yaml`];
}

const values = { Values: { num: 4, big: 1e9, str: '3', yes: true } };

describe('range over a number', () => {
  it('a float64 (every number in Helm values), however whole, is no integer to range over', () => {
    expect(out('{{ range .Values.num }}x{{ end }}', values)).toMatch(/range can't iterate over 4$/);
    // a hostile values file: 1e9 is refused at once, not counted up to the iteration limit
    expect(out('{{ range .Values.big }}x{{ end }}', values)).toMatch(/range can't iterate over 1e\+09$/);
    expect(out('{{ range $i, $e := .Values.num }}x{{ end }}', values)).toMatch(/range can't iterate over 4$/);
  }, 20_000);
  it('an integer ranges (Go 1.22), with one variable; two are refused whatever the count', () => {
    expect(out('{{ range $e := (int .Values.num) }}{{ $e }}{{ end }}', values)).toBe('0123');
    expect(out('{{ range $i, $e := (int .Values.num) }}x{{ end }}', values)).toMatch(/can't use 4 to iterate over more than one variable$/);
    expect(out('{{ range $i, $e := 0 }}x{{ else }}y{{ end }}')).toMatch(/can't use 0 to iterate over more than one variable$/);
  });
});

describe("typed parameters: Go converts each argument to its parameter's type", () => {
  it('a bool parameter (ternary) takes a bool, nothing else', () => {
    expect(out('{{ ternary 1 2 "s" }}')).toMatch(/at <"s">: expected bool; found "s"$/);
    expect(out('{{ ternary 1 2 nil }}')).toMatch(/at <nil>: cannot assign nil to bool$/);
    expect(out('{{ ternary 1 2 .Values.num }}', values)).toMatch(/at <.Values.num>: wrong type for value; expected bool; got float64$/);
    expect(out('{{ ternary 1 2 .Values.missing }}', values)).toMatch(/at <.Values.missing>: wrong type for value; expected bool; got interface \{\}$/);
    expect(out('{{ $b := .Values.missing }}{{ ternary 1 2 $b }}', values)).toMatch(/at <\$b>: invalid value; expected bool$/);
    expect(out('{{ "s" | ternary 1 2 }}')).toMatch(/at <2>: wrong type for value; expected bool; got string$/);
    expect(out('{{ ternary 1 2 true }}|{{ ternary 1 2 .Values.yes }}|{{ false | ternary 1 2 }}|{{ ternary 1 2 (eq 1 1) }}', values)).toBe('1|1|2|1');
  });
  it('an int parameter (indent, nindent, trunc, until, randAlpha, substr…) takes an integer literal or an int, not a float64', () => {
    expect(out('{{ nindent nil "a" }}')).toMatch(/at <nil>: cannot assign nil to int$/);
    expect(out('{{ indent "2" "a" }}')).toMatch(/at <"2">: expected integer; found "2"$/);
    expect(out('{{ indent 1.5 "a" }}')).toMatch(/at <1.5>: expected integer; found 1.5$/);
    expect(out('{{ indent true "a" }}')).toMatch(/at <true>: expected integer; found true$/);
    expect(out('{{ indent .Values.num "a" }}', values)).toMatch(/at <.Values.num>: wrong type for value; expected int; got float64$/);
    expect(out('{{ indent .Values.str "a" }}', values)).toMatch(/at <.Values.str>: wrong type for value; expected int; got string$/);
    expect(out('{{ $n := .Values.missing }}{{ indent $n "a" }}', values)).toMatch(/at <\$n>: invalid value; expected int$/);
    expect(out('{{ trunc .Values.num "abcdef" }}', values)).toMatch(/expected int; got float64$/);
    expect(out('{{ until .Values.num }}', values)).toMatch(/expected int; got float64$/);
    expect(out('{{ substr 0 .Values.num "abcdef" }}', values)).toMatch(/at <.Values.num>: wrong type for value; expected int; got float64$/);
    expect(out('{{ .Values.num | randAlpha }}', values)).toMatch(/at <randAlpha>: wrong type for value; expected int; got float64$/);
    expect(out('{{ genCA "x" .Values.num }}', values)).toMatch(/at <.Values.num>: wrong type for value; expected int; got float64$/);
    expect(out('{{ indent 2.0 "a" }}|{{ indent (int .Values.num) "a" }}|{{ indent (len "ab") "a" }}|{{ $n := 1 }}{{ nindent $n "a" }}|{{ trunc 2 "abc" }}|{{ until 3 }}', values)).toBe(
      '  a|    a|  a|\n a|ab|[0 1 2]',
    );
  });
  it('a string parameter given a literal of another type: expected string; found …', () => {
    expect(out('{{ upper 5 }}')).toMatch(/at <5>: expected string; found 5$/);
    expect(out('{{ upper true }}')).toMatch(/at <true>: expected string; found true$/);
    expect(out('{{ upper nil }}')).toMatch(/at <nil>: cannot assign nil to string$/);
  });
  it("a map parameter given a literal that is no nil: can't handle", () => {
    expect(out('{{ get "x" "y" }}')).toMatch(/at <"x">: can't handle "x" for arg of type map\[string\]interface \{\}$/);
    expect(out('{{ get nil "y" }}|')).toBe('|');
  });
});

describe('seq, until, untilStep', () => {
  it("seq passes its end one past in Go's int64 (numeric.go: end+increment), so the edges wrap to nothing; more than 3 arguments are nothing", () => {
    expect(out('{{ seq 9223372036854775807 | quote }}|{{ seq -9223372036854775808 | len }}|{{ seq 1 2 3 4 | quote }}|{{ seq 5 1 1 | quote }}|{{ seq 1 -1 5 | quote }}|{{ seq 9223372036854775806 9223372036854775807 | quote }}')).toBe(
      '""|0|""|""|""|""',
    );
    expect(out('{{ seq 5 -2 1 }}|{{ seq 3 }}|{{ seq -2 }}|{{ seq 4 2 }}|{{ seq 2 0 5 | quote }}|{{ until -3 }}|{{ untilStep 9007199254740993 9007199254740996 1 }}')).toBe(
      '5 3 1|1 2 3|1 0 -1 -2|4 3 2|""|[0 -1 -2]|[9007199254740993 9007199254740994 9007199254740995]',
    );
  });
});

describe('toToml', () => {
  // BurntSushi/toml v1's Encoder (Helm's toToml) writes a newline only once it has written
  // something (encode.go newline(): `if enc.hasWritten`); the oracle's own TOML encoder differs
  // here (it gives "\n[a]\n" for the second), so this is checked against BurntSushi's source.
  it('an empty map, or one of nils only, is the empty string', async () => {
    expect(await render('toml', '{{ toToml (dict) | quote }}|{{ toToml (dict "a" (dict)) | quote }}|{{ toToml .Values.e | quote }}|{{ toToml (dict "x" nil) | quote }}', 'e: {}\n')).toBe('""|"[a]\\n"|""|""');
  });
});
