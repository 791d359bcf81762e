import { describe, expect, it } from 'vitest';
import { scratchRawRender } from './run-template.js';

// Twenty-first pass: the Go types round 20 left (a semver's uint64 fields, a string's uint8 bytes,
// split's map[string]string, set on a nil map) and what pass 21's real charts found. Each
// expectation is what Helm 3.14 (Go text/template, sprig v3.2.3, Masterminds semver) gives, taken
// from the independent Go renderer's output for the same template.

const render = scratchRawRender('ferry-oracle21-');

describe("a semver's Major, Minor and Patch are uint64", () => {
  it('printf %T, kindOf, typeOf, typeIs and kindIs name uint64; arithmetic gives int64', async () => {
    expect(await render('{{ $v := semver "1.2.3" }}{{ printf "%T %v %d" $v.Major $v.Major $v.Major }} {{ kindOf $v.Major }} {{ typeOf $v.Major }} {{ add1 $v.Major }} {{ typeOf (add1 $v.Major) }} {{ eq $v.Major 1 }}')).toBe(
      'uint64 1 1 uint64 uint64 2 int64 true',
    );
    expect(await render('{{ typeIs "uint64" (semver "1.2.3").Minor }} {{ kindIs "uint64" (semver "1.2.3").Patch }} {{ int (semver "1.2.3").Major | typeOf }} {{ mul (semver "1.2.3").Minor 3 }}')).toBe('true true int 6');
  });
  it('eq and lt compare it with an int by value; deepEqual and has tell the types apart', async () => {
    expect(await render('{{ deepEqual (semver "1.2.3").Major 1 }} {{ has (semver "1.2.3").Major (list 1) }} {{ lt (semver "1.2.3").Major 2 }} {{ eq (semver "1.2.3").Major (add 0 1) }}')).toBe('false false true true');
  });
  it('duration reads an int64 only; printf, truth, empty and the encoders see a number', async () => {
    expect(await render('{{ duration (semver "1.2.3").Major }} {{ (semver "1.2.3").Major | toYaml }} {{ list (semver "1.2.3").Major | toJson }} {{ if (semver "0.2.3").Major }}T{{ else }}F{{ end }} {{ empty (semver "0.2.3").Major }}')).toBe('0s 1 [1] F true');
    expect(await render('{{ printf "%5d|%x|%v|%s" (semver "1.2.3").Minor (semver "1.12.3").Minor (semver "1.2.3").Minor (semver "1.2.3").Minor }}')).toBe('    2|c|2|%!s(uint64=2)');
  });
  it('an int parameter refuses it', async () => {
    expect(await render('{{ indent (semver "1.2.3").Major "x" }}')).toBe('ERR wrong type for value; expected int; got uint64');
  });
});

describe('a byte of a string or a []byte is a uint8', () => {
  it('index "ab" 0: %T, %c, %q, eq with an int, toString', async () => {
    expect(await render('{{ $b := index "ab" 0 }}{{ printf "%T %v %d %c %q %x" $b $b $b $b $b $b }} {{ kindOf $b }} {{ typeOf $b }} {{ eq $b 97 }} {{ toString $b }} {{ add1 $b }} {{ $b }} {{ lt $b 98 }} {{ toJson $b }} {{ list $b | toYaml }}')).toBe(
      "uint8 97 97 a 'a' 61 uint8 uint8 true 97 98 97 true 97 - 97",
    );
  });
  it('a []byte’s elements, ranged over or taken by a list function', async () => {
    expect(await render('{{ range $i, $b := .Files.GetBytes "files/x" }}{{ printf "%T %v %T;" $i $b $b }}{{ end }} {{ first (.Files.GetBytes "files/x") | typeOf }} {{ index (.Files.GetBytes "files/x") 1 | typeOf }}')).toBe('int 97 uint8;int 98 uint8; uint8 uint8');
  });
});

describe('index takes an integer of any size, never a float64', () => {
  it('a values number or a float literal is refused, as text/template refuses it', async () => {
    expect(await render('{{ index (list 1 2) .Values.i }}', 'i: 1\n')).toBe('ERR error calling index: cannot index slice/array with type float64');
    expect(await render('{{ index (list 1 2) 1.0 }}')).toBe('ERR error calling index: cannot index slice/array with type float64');
    expect(await render('{{ index (list 1 2) nil }}')).toBe('ERR error calling index: cannot index slice/array with nil');
    expect(await render('{{ index (list 1 2) (semver "1.1.0").Minor }} {{ index (list 1 2) (add 0 1) }}')).toBe('2 2');
  });
});

describe("split and splitn return a map[string]string", () => {
  it('%T, kindOf and typeOf name it; range is in key order; json; a missing key is ""', async () => {
    expect(await render('{{ $s := split "," "a,b,c,d,e,f,g,h,i,j,k,l" }}{{ printf "%T" $s }} {{ kindOf $s }} {{ typeOf $s }} {{ range $k, $v := $s }}{{$k}}={{$v}} {{ end }} {{ toJson $s }} {{ $s._1 }} {{ len $s }} {{ index $s "_0" }} {{ index $s "_99" | quote }} {{ $s._99 | quote }}')).toBe(
      'map[string]string map map[string]string _0=a _1=b _10=k _11=l _2=c _3=d _4=e _5=f _6=g _7=h _8=i _9=j  {"_0":"a","_1":"b","_10":"k","_11":"l","_2":"c","_3":"d","_4":"e","_5":"f","_6":"g","_7":"h","_8":"i","_9":"j"} b 12 a "" ""',
    );
    expect(await render('{{ splitn "," 0 "a,b" | toJson }} {{ printf "%T" (splitn "," 2 "a,b,c") }} {{ deepCopy (split "," "a") | typeOf }}')).toBe('{} map[string]string map[string]string');
  });
  it("sprig's map functions refuse it, as Go's argument conversion does", async () => {
    for (const fn of ['hasKey (split "," "a") "_0"', 'keys (split "," "a")', 'set (split "," "a") "x" "y"', 'get (split "," "a") "_0"', 'merge (split "," "a") (dict)', 'pluck "_0" (split "," "a")', 'values (split "," "a")']) {
      expect(await render(`{{ ${fn} }}`)).toBe('ERR wrong type for value; expected map[string]interface {}; got map[string]string');
    }
    expect(await render('{{ hasKey (.Files.GetBytes "files/x") "a" }}')).toBe('ERR wrong type for value; expected map[string]interface {}; got []uint8');
  });
});

describe('a nil map', () => {
  it('set on one fails as Go panics: merge nil nil, a literal nil, fromJson "null", a deepCopy of one', async () => {
    for (const t of ['{{ $m := merge nil nil }}{{ $_ := set $m "a" 1 }}{{ $m }}', '{{ $_ := set nil "a" 1 }}', '{{ $m := fromJson "null" }}{{ $_ := set $m "a" 1 }}', '{{ $m := mergeOverwrite nil nil }}{{ $_ := set $m "a" 1 }}', '{{ $m := deepCopy (merge nil nil) }}{{ $_ := set $m "a" 1 }}']) {
      expect(await render(t)).toBe('ERR error calling set: assignment to entry in nil map');
    }
    // a non-nil empty map takes it; unset on a nil map is nothing
    expect(await render('{{ $m := merge (dict) nil }}{{ $_ := set $m "a" 1 }}{{ $m }} {{ $n := merge nil nil }}{{ $_ := unset $n "a" }}{{ hasKey $n "a" }}')).toBe('map[a:1] false');
  });
  it('deepCopy keeps it nil; a nil map merged into nil leaves it nil', async () => {
    expect(await render('{{ toJson (merge nil (merge nil nil)) }} {{ toJson (dict "a" (merge nil nil) | deepCopy) }} {{ fromJson "null" | deepCopy | toJson }} {{ deepCopy (merge nil nil) | toJson }}')).toBe('null {"a":null} null null');
    expect(await render('{{ toJson (merge nil (dict)) }} {{ toJson (merge (merge nil nil) (dict)) }} {{ toJson (mergeOverwrite nil (merge nil nil)) }} {{ toJson (merge (merge nil nil) (merge nil nil)) }}')).toBe('{} {} null null');
    expect(await render('{{ $m := fromJson "null" }}{{ printf "%T %v" $m $m }} {{ toJson $m }} {{ $m.a }} {{ len $m }}')).toBe('map[string]interface {} map[] null  0');
  });
});

describe("printf's flags reach a bad verb's operand, a list's elements and a map's entries (fmt's printValue)", () => {
  it('a bad verb prints its operand as %v with the flags', async () => {
    expect(await render('{{ printf "%06.1f|%5d|%-5x|%.1s|%05s|%+d|%5t|%08.3e|%5c|%5q|%6U|%5d" 1 "ab" true 5 3 "x" 1 "s" "s" 1.5 "z" (list 1 "a") }}')).toBe(
      '%!f(int=     1)|%!d(string=   ab)|%!x(bool=true )|%!s(int=5)|%!s(int=00003)|%!d(string=x)|%!t(int=    1)|%!e(string=0000000s)|%!c(string=    s)|%!q(float64=  1.5)|%!U(string=     z)|[    1 %!d(string=    a)]',
    );
    expect(await render('{{ printf "%+v|%+v|%+t|% t|%+s|%5v|%-6v|%.1v|%5.1t" 1 1.5 1 1 -2 (list "a" 2) (list 1) "abc" "xyz" }}')).toBe('1|1.5|%!t(int=+1)|%!t(int= 1)|%!s(int=-2)|[    a     2]|[1     ]|a|%!t(string=    x)');
  });
  it('the 0 flag pads any operand with zeros', async () => {
    expect(await render('{{ printf "%05s|%-05s|%05v|%05q|%05x|%05t|%05v|%05v" "ab" "ab" "ab" "ab" "ab" true (list 1 2) 1.5 }}')).toBe('000ab|ab   |000ab|0"ab"|06162|0true|[00001 00002]|001.5');
  });
  it('lists and maps are printed element by element with the verb', async () => {
    expect(await render('{{ printf "%s|%d|%x|%5v|%v|% v|%.3v|%05v|%s|%v|%-4v|" (list 1 "a") (dict "a" 1 "b" "x") (list 10 "ab") (dict "k" 1.5) (list nil) 1.5 7 -3 nil nil nil }}')).toBe(
      '[%!s(int=1) a]|map[%!d(string=a):1 %!d(string=b):%!d(string=x)]|[a 6162]|map[    k:  1.5]|[<nil>]| 1.5|007|-0003|%!s(<nil>)|<nil>|<nil>|',
    );
  });
});

describe('bounds', () => {
  it('a width given to each element of a long list is refused past the formatting limit, not built', { timeout: 20_000 }, async () => {
    expect(await render('{{ printf "%1000000v" (until 100000) }}')).toMatch(/^ERR error calling printf: printf: more than \d+ characters would be built/);
    expect(await render('{{ printf "%.1000000d" (until 100000) }}')).toMatch(/^ERR error calling printf: printf: more than \d+ characters would be built/);
  });
});
