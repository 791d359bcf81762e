import { describe, expect, it } from 'vitest';
import { toYaml } from '../../../../src/kinds/chart/render/helm.js';
import { run } from './run-template.js';

// Twentieth pass: Go's int and int64 are two types (sprig 3.2.3's functions.go/numeric.go: `len`,
// `atoi`, `int`, `until`, `randInt`, literals give an int; `add` `add1` `sub` `mul` `div` `mod`
// `max` `min` `biggest` `int64` `toDecimal` an int64), lists of a Go type other than
// []interface{}, a nil map, and encoding/json's Marshalers. Each expectation is what Helm 3.14 gives
// (Go text/template, sprig v3.2.3), checked with the independent Go renderer.

const out = (t: string, data: unknown = {}): string => {
  try {
    return run(t, data, { toYaml: (v) => toYaml(v) });
  } catch (e) {
    return `ERR ${(e as Error).message}`;
  }
};

describe('int and int64', () => {
  it('printf %T, typeOf and kindOf name each', () => {
    expect(out('{{ printf "%T %T %T %T %T %T" 1 (len "a") (atoi "1") (int 1.5) (randInt 1 2) (until 2) }}')).toBe('int int int int int []int');
    expect(out('{{ printf "%T %T %T %T %T %T %T" (add1 1) (max 1 2) (min 1) (mod 3 2) (int64 1) (toDecimal "7") (mul 2 3) }}')).toBe('int64 int64 int64 int64 int64 int64 int64');
    expect(out('{{ typeOf 1 }} {{ typeOf (add 1 1) }} {{ kindOf (add 1 1) }} {{ kindIs "int" 3 }} {{ kindIs "int" (sub 3 1) }}')).toBe('int int64 int64 true false');
    expect(out('{{ printf "%d" "1" 2 }}')).toBe('%!d(string=1)%!(EXTRA int=2)');
    expect(out('{{ printf "%d" "1" (add 1 1) }}')).toBe('%!d(string=1)%!(EXTRA int64=2)');
  });
  it('deepEqual, uniq, has and without tell them apart; eq and lt do not', () => {
    expect(out('{{ deepEqual 1 (add 0 1) }} {{ uniq (list 1 (add 0 1)) }} {{ has 1 (list (add 1 0)) }}')).toBe('false [1 1] false');
    expect(out('{{ has (add 1 0) (list (add 1 0)) }} {{ deepEqual (list (add 1 1)) (list (mul 2 1)) }} {{ without (list 1 (add 0 1) 2) 1 | toJson }}')).toBe('true true [1,2]');
    expect(out('{{ eq 1 (add 0 1) }} {{ lt (add 0 1) 2 }} {{ ne (add 2 0) 2 }}')).toBe('true true false');
  });
  it('duration reads an int64 only', () => {
    expect(out('{{ duration 60 }} {{ duration (int64 60) }} {{ duration (add 30 30) }} {{ durationRound (int64 3600000000000) }}')).toBe('0s 1m0s 1m0s 60m');
  });
  it('an int parameter refuses an int64, as Go does', () => {
    expect(out('{{ indent (add 2 2) "x" }}')).toMatch(/wrong type for value; expected int; got int64$/);
    expect(out('{{ until (add 1 2) }}')).toMatch(/wrong type for value; expected int; got int64$/);
    expect(out('{{ indent (int (add 1 1)) "x" }}')).toBe('  x');
    // both encode as numbers
    expect(out('{{ toYaml (list 1 (add 1 1)) }} {{ toJson (dict "a" (add 1 1)) }} {{ add 1 1 | quote }}')).toBe('- 1\n- 2 {"a":2} "2"');
  });
});

describe('lists of a Go type other than []interface{}', () => {
  it('until gives an []int, which sprig’s slice keeps and the other list functions do not', () => {
    expect(out('{{ slice (until 3) 1 | typeOf }} {{ append (until 2) 5 | typeOf }} {{ untilStep 0 4 2 | typeOf }} {{ reverse (until 2) | typeOf }} {{ first (until 2) | typeOf }} {{ until 3 | toJson }}')).toBe('[]int []interface {} []int []interface {} int [0,1,2]');
    expect(out('{{ typeOf (uniq (until 2)) }} {{ typeOf (rest (until 2)) }} {{ typeOf (mustSlice (until 2) 1) }} {{ has 1 (until 3) }} {{ until 3 }}')).toBe('[]interface {} []interface {} []int true [0 1 2]');
  });
  it('splitList, keys, toStrings, regexFindAll, regexSplit and sortAlpha give a []string', () => {
    expect(out('{{ typeOf (splitList "," "a") }} {{ typeOf (keys (dict)) }} {{ typeOf (toStrings (list 1)) }} {{ typeOf (regexFindAll "a" "aa" -1) }} {{ typeOf (regexSplit "a" "bab" -1) }} {{ typeOf (sortAlpha (until 2)) }} {{ typeOf (list 1) }}')).toBe('[]string []string []string []string []string []string []interface {}');
  });
  it('deepEqual compares the types too; deepCopy keeps it', () => {
    expect(out('{{ deepEqual (until 2) (until 2) }} {{ deepEqual (list 0 1) (until 2) }} {{ typeOf (deepCopy (splitList "," "a")) }}')).toBe('true false []string');
  });
});

describe('merge with only nil is a nil map', () => {
  it('prints map[], has length 0, and encodes as null', () => {
    expect(out('{{ merge nil nil }}|{{ merge nil nil | typeOf }}|{{ merge nil nil | kindOf }}|{{ merge nil nil | toYaml }}|{{ merge nil nil | len }}|{{ mergeOverwrite nil nil }}|{{ empty (merge nil nil) }}')).toBe('map[]|map[string]interface {}|map|null|0|map[]|true');
    // a later merge into it makes a map
    expect(out('{{ merge (merge nil nil) (dict "a" 1) | toJson }}')).toBe('{"a":1}');
  });
});

describe('encoding/json Marshalers', () => {
  it('a semver version is its string', () => {
    expect(out('{{ semver "v1.2" | toYaml }}|{{ semver "1.2.3-rc.1+b" | toJson }}|{{ dict "v" (semver "v1.20.3") | toYaml }}|{{ list (semver "1.2") | toRawJson }}')).toBe('1.2.0|"1.2.3-rc.1+b"|v: 1.20.3|["1.2.0"]');
  });
  it('a time is RFC 3339 with its fraction of a second, which it also prints', () => {
    expect(out('{{ toDate "2006-01-02" "2020-05-06" | toJson }}|{{ dict "t" (toDate "2006-01-02 15:04:05.000" "2020-05-06 01:02:03.450") | toJson }}|{{ toDate "2006-01-02 15:04:05.000" "2020-05-06 01:02:03.450" }}')).toBe('"2020-05-06T00:00:00Z"|{"t":"2020-05-06T01:02:03.45Z"}|2020-05-06 01:02:03.45 +0000 UTC');
  });
});
