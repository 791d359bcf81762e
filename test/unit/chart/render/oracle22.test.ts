import { describe, expect, it } from 'vitest';
import { scratchRawRender } from './run-template.js';

// Twenty-second pass: fmt's verbs on every Go type a chart reaches (printf is now a port of Go's
// fmt: print.go's printArg/printValue/badVerb and format.go's integer, float, string and quoting
// code, with strconv's `b` and `x` float formats), template string escapes that are bytes, and
// sprig's list functions' errors on a value that is no list. Each expectation is what Helm 3.14
// (Go text/template, sprig v3.2.3) gives, taken from the independent Go renderer's output for the
// same template.

const render = scratchRawRender('ferry-oracle22-');

describe('printf of a float64', () => {
  it('%x and %X are hexadecimal floats, %b mantissa p exponent (was a bad verb)', async () => {
    expect(await render('{{ printf "%x|%X|%b|%#.3x|%.0x|%x" 1.5 -0.1 2.0 1.0 1.5 (float64 "5e-324") }}')).toBe(
      '0x1.8p+00|-0X1.999999999999AP-04|4503599627370496p-51|0x1.000p+00|0x1p+01|0x1p-1074',
    );
    expect(await render('{{ printf "%x %v" .Values.f .Values.f }}', 'f: 0.75\n')).toBe('0x1.8p-01 0.75');
  });
  it('%e of an int is a bad verb; Inf and NaN keep their sign and take no zeros; # keeps the point and zeros', async () => {
    expect(await render('{{ printf "%e|%+.2E|%#g|%v|%G|%08.2f|% 014.3G|%#.0e" 255 (float64 "+Inf") 100.0 (float64 "NaN") 1e21 (float64 "-Inf") 1.7976931348623157e308 3.0 }}')).toBe(
      '%!e(int=255)|+Inf|100.000|NaN|1E+21|    -Inf| 000001.8E+308|3.e+00',
    );
  });
});

describe('printf of strings, runes and bytes', () => {
  it('%q %+q %#q quote as strconv does (no backquotes around a backquote); %c and %U of no valid rune; % #X and a precision on bytes', async () => {
    expect(await render('{{ printf "%q|%+q|%#q|%c|%c|%U|%#U|%x|% #X|%.1x" "é\\t`" "é" "a`" 1114112 -1 -1 233 "\\xff\\xfe" "ab" "abc" }}')).toBe(
      '"é\\t`"|"\\u00e9"|"a`"|\ufffd|\ufffd|U+FFFFFFFFFFFFFFFF|U+00E9 \'é\'|fffe|0X61 0X62|61',
    );
  });
  it('a \\x or octal escape in a template string is a byte (was the character U+00FF)', async () => {
    expect(await render('{{ printf "%s|%q|%x|%d" "\\xc3\\xa9" "\\xff" "\\377" (len "\\xff") }}')).toBe('é|"\\xff"|ff|1');
  });
  it('a []byte under %s %q %x % X, its bytes under %d %o, inside a list', async () => {
    const b = '(.Files.GetBytes "files/x")';
    expect(await render(`{{ printf "%s|%q|%x|% X|%d|%o|%v" ${b} ${b} ${b} ${b} ${b} ${b} (list ${b}) }}`)).toBe('ab|"ab"|6162|61 62|[97 98]|[141 142]|[[97 98]]');
  });
});

describe('printf of lists, maps and structs', () => {
  it("a nil element is <nil> whatever the verb; a map[string]string's entries take the verb; %05s pads with zeros", async () => {
    expect(await render('{{ printf "%d|%x|%v|%05s|%-6t|" (list 1 nil "a") (dict "k" 1.5 "n" nil) (split "," "a,b") "ab" true }}')).toBe(
      '[1 <nil> %!d(string=a)]|map[6b:0x1.8p+00 6e:<nil>]|map[_0:a _1:b]|000ab|true  |',
    );
  });
  it('%#v is Go syntax; %T takes a precision and zeros; a semver prints its fields under %d and its String under %x', async () => {
    expect(await render('{{ printf "%d|%#v|%#v|%#v|%.3T|%08.3T|%x" (semver "1.2.3") (list 1 "a" nil) (dict "a" (index "a" 0)) (until 2) (dict) 1.5 (semver "1.2.3") }}')).toBe(
      '&{1 2 3 %!d(string=) %!d(string=) %!d(string=1.2.3)}|[]interface {}{1, "a", interface {}(nil)}|map[string]interface {}{"a":0x61}|[]int{0, 1}|map|00000flo|312e322e33',
    );
  });
});

describe("sprig's list functions on a value that is no list", () => {
  it('each says what sprig says, with the reflect.Kind', async () => {
    const cases: [string, string][] = [
      ['slice "abc" 1', 'error calling slice: list should be type of slice or array but string'],
      ['mustSlice 5 1', 'error calling mustSlice: list should be type of slice or array but int'],
      ['first 5', 'error calling first: Cannot find first on type int'],
      ['last (add 1 1)', 'error calling last: Cannot find last on type int64'],
      ['rest (semver "1.2.3")', 'error calling rest: Cannot find rest on type ptr'],
      ['initial .Chart.Annotations', 'error calling initial: Cannot find initial on type map'],
      ['uniq (index "a" 0)', 'error calling uniq: Cannot find uniq on type uint8'],
      ['without "x" 1', 'error calling without: Cannot find without on type string'],
      ['has 1 .Values', 'error calling has: Cannot find has on type map'],
      ['reverse "a"', 'error calling reverse: Cannot find reverse on type string'],
      ['compact 1.5', 'error calling compact: Cannot compact on type float64'],
      ['append (dict) 1', 'error calling append: Cannot push on type map'],
      ['mustPush "a" 1', 'error calling mustPush: Cannot push on type string'],
      ['prepend (split "," "a") 1', 'error calling prepend: Cannot prepend on type map'],
      ['concat (list 1) "abc"', 'error calling concat: Cannot concat type string as list'],
      ['chunk 2 "abc"', 'error calling chunk: Cannot chunk type string'],
    ];
    for (const [call, err] of cases) expect(await render(`{{ ${call} }}`), call).toBe(`ERR ${err}`);
  });
  it('sortAlpha takes a non-list as its one element, has of nil is false', async () => {
    expect(await render('{{ sortAlpha "abc" }} {{ sortAlpha 5 }} {{ has 1 nil }}')).toBe('[abc] [5] false');
  });
});
