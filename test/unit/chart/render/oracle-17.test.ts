import { describe, expect, it } from 'vitest';
import { run } from './run-template.js';

// Seventeenth pass: what the fuzzer (scripts/oracle/fuzz.mjs) found once it reached int64's edges
// (`sub 7 1e21`). Each expectation is what Helm 3.14 gives (Go text/template, sprig v3.2.3 with
// spf13/cast 1.5, Go on amd64), checked with the independent Go renderer.

const out = (t: string): string => {
  try {
    return run(t);
  } catch (e) {
    return `ERR ${(e as Error).message}`;
  }
};

describe("sprig's integers are Go's int64", () => {
  it('add, sub, mul, add1 and div wrap around on overflow', () => {
    expect(out('{{ add 9223372036854775807 1 }}|{{ add1 9223372036854775807 }}|{{ sub -9223372036854775807 2 }}|{{ mul 9223372036854775807 3 }}|{{ div -9223372036854775808 -1 }}|{{ mod -9223372036854775808 -1 }}')).toBe(
      '-9223372036854775808|-9223372036854775808|9223372036854775807|9223372036854775805|-9223372036854775808|0',
    );
  });
  it('a float64 out of int64 range (or NaN, Inf) converts to -9223372036854775808, as amd64 does', () => {
    expect(out('{{ sub 7 1e21 }}|{{ int 1e21 }}|{{ int64 -1e21 }}|{{ int64 9.3e18 }}|{{ max 1e21 1 }}|{{ min -1e21 5 }}|{{ int (float64 "NaN") }}|{{ int (float64 "+Inf") }}|{{ int64 1.9 }}|{{ int64 -1.9 }}')).toBe(
      '-9223372036854775801|-9223372036854775808|-9223372036854775808|-9223372036854775808|1|-9223372036854775808|-9223372036854775808|-9223372036854775808|1|-1',
    );
  });
  it("cast.ToInt64 of a string: trimZeroDecimal, then strconv.ParseInt base 0 (underscores, no spaces, 0 when out of range)", () => {
    expect(out('{{ int "12.0" }} {{ int "12.00" }} {{ int "12.50" }} {{ int "1." }} {{ int "120" }} {{ int ".0" }} {{ int "0.0" }} {{ int "-3.0" }}')).toBe('12 12 0 0 120 0 0 -3');
    expect(out('{{ int " 5" }} {{ int "5 " }} {{ int "1_000" }} {{ int "0x_1F" }} {{ int "_1" }} {{ int "1__0" }} {{ int "0b101" }} {{ int "0o17" }} {{ int "017" }} {{ int "-0x10" }} {{ int "0x" }} {{ int "08" }}')).toBe(
      '0 0 1000 31 0 0 5 15 15 -16 0 0',
    );
    expect(out('{{ int "99999999999999999999" }}|{{ int64 "9223372036854775808" }}|{{ int64 "0x8000000000000000" }}|{{ add "3.0" "0x10" }}|{{ mul "2.00" 4 }}')).toBe('0|0|0|19|8');
  });
  it('atoi is strconv.Atoi (base 10, an out-of-range value clamped); toDecimal is ParseInt base 8 (a sign allowed)', () => {
    expect(out('{{ atoi "99999999999999999999" }}|{{ atoi "-99999999999999999999" }}|{{ atoi "+12" }}|{{ atoi "1_000" }}')).toBe('9223372036854775807|-9223372036854775808|12|0');
    expect(out('{{ toDecimal "77777777777777777777777" }}|{{ toDecimal "-17" }}|{{ toDecimal "+17" }}|{{ toDecimal 17.0 }}|{{ toDecimal "1_7" }}')).toBe('0|-15|15|15|0');
  });
});

describe("text/template's number literals", () => {
  it('an integer above int64 but within uint64 is "overflows int" where it is used (idealConstant)', () => {
    expect(out('{{ 9223372036854775808 }}')).toBe('ERR template: t:1:3: executing "t" at <9223372036854775808>: 9223372036854775808 overflows int');
    expect(out('{{ int64 0xFFFFFFFFFFFFFFFF }}')).toBe('ERR template: t:1:9: executing "t" at <0xFFFFFFFFFFFFFFFF>: 0xFFFFFFFFFFFFFFFF overflows int');
    expect(out('{{ if 18446744073709551615 }}x{{ end }}')).toMatch(/overflows int$/);
    expect(out('{{ 9223372036854775807 }}|{{ -9223372036854775808 }}|{{ 1e-400 }}')).toBe('9223372036854775807|-9223372036854775808|0');
  });
  it('beyond uint64 or below int64 is a parse error, as a float beyond float64 is (parse.newNumber)', () => {
    expect(out('{{ int64 99999999999999999999 }}')).toBe('ERR template: t:1: integer overflow: "99999999999999999999"');
    expect(out('{{ -9223372036854775809 }}')).toBe('ERR template: t:1: integer overflow: "-9223372036854775809"');
    expect(out('{{ 07777777777777777777777777 }}')).toBe('ERR template: t:1: integer overflow: "07777777777777777777777777"');
    expect(out('{{ 0x1FFFFFFFFFFFFFFFF }}')).toBe('ERR template: t:1: illegal number syntax: "0x1FFFFFFFFFFFFFFFF"');
    expect(out('{{ 1e400 }}')).toBe('ERR template: t:1: illegal number syntax: "1e400"');
  });
});

describe('fromYaml of a scalar', () => {
  it("names encoding/json's kind: bool, number, string (JavaScript said boolean)", async () => {
    const { renderRaw } = await import('../../../../scripts/oracle/ferry-raw.js');
    const { mkdtemp, rm } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const { writeChart } = await import('../helpers.js');
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-oracle17-'));
    try {
      const dir = await writeChart(path.join(tmp, 'fy'), { chart: { name: 'fy', version: '1.0.0' }, values: 'a: 1\n', files: { 'templates/t.yaml': '{{ "true" | fromYaml }}|{{ "1" | fromYaml }}|{{ "x" | fromYaml }}\n' } });
      const r = await renderRaw(dir);
      const u = (k: string) => `map[Error:error unmarshaling JSON: json: cannot unmarshal ${k} into Go value of type map[string]interface {}]`;
      expect(r.ok!['fy/templates/t.yaml']).toBe(`${u('bool')}|${u('number')}|${u('string')}\n`);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
