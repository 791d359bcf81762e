import { describe, expect, it } from 'vitest';
import { documentsFromHelmOutput, renderChart } from '../../../../src/kinds/chart/render/index.js';
import { goSprintf } from '../../../../src/kinds/chart/render/gofmt.js';
import { type GoTypedMap, int64Of } from '../../../../src/kinds/chart/render/govalue.js';
import { sprigFuncs } from '../../../../src/kinds/chart/render/sprig.js';
import { refuses, scratchCharts } from '../helpers.js';

// Tenth pass of real charts against the independent Go renderer (Bitnami's charts with their
// vendored dependencies, Argo, Jenkins, Falco, Kyverno, MetalLB, Gatekeeper, Crossplane, Velero,
// CockroachDB, Neo4j, Pulsar, Spark operator, MinIO). Each expectation is what Go gives: Go's
// regexp package (RE2 syntax; checked with Go's regexp on this machine) and text/template.

const chartWith = scratchCharts('ferry-oracle10-');
const f = sprigFuncs() as Record<string, (...a: unknown[]) => unknown>;

describe('regular expressions: RE2 flag groups apply to the rest of their group', () => {
  // neo4j's podSpec.checkLoadBalancerParam: `regexMatch "(?i)include$|(?i)exclude$"`. Only a
  // leading `(?i)` was read; the second reached JavaScript as `(?i)`, "Invalid group", and every
  // neo4j value set was refused where Helm renders it.
  it("renders neo4j's load-balancer check", async () => {
    const chart = await chartWith(
      { 'templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  ok: {{ regexMatch "(?i)include$|(?i)exclude$" .Values.lb | quote }}\n' },
      'lb: Exclude\n',
    );
    const cm = renderChart(chart).documents[0].object as { data: { ok: string } };
    expect(cm.data.ok).toBe('true');
  });

  it('(?i) in the middle, (?-i), and inside a group', () => {
    expect(f.regexMatch('a(?i)b|c', 'C')).toBe(true); // the flag goes on past `|`
    expect(f.regexMatch('(?i)a(?-i)b', 'AB')).toBe(false);
    expect(f.regexMatch('(?i)a(?-i)b', 'Ab')).toBe(true);
    expect(f.regexReplaceAll('(a(?i)b)c', 'aBc', '<$1>')).toBe('<aB>');
    expect(f.regexMatch('(a(?i)b)C', 'aBc')).toBe(false); // ends with its group
    expect(f.regexMatch('(?:(?i)a)b', 'AB')).toBe(false);
    expect(f.regexFindAll('(?U)a+', 'aaa', -1n)).toEqual(['a', 'a', 'a']);
    expect(f.regexReplaceAll('(?U)(a+?)b', 'aab', '<$1>')).toBe('<aa>');
  });

  it("`.`, `\\s` and (?i) are Go's", () => {
    expect(f.regexMatch('a.b', 'a\rb')).toBe(true); // JavaScript's `.` stops at \r
    expect(f.regexMatch('a.b', 'a\nb')).toBe(false);
    expect(f.regexMatch('(?s:a.b)', 'a\nb')).toBe(true);
    expect(f.regexMatch('\\s', '\v')).toBe(false); // Go's \s is [\t\n\f\r ]
    expect(f.regexMatch('\\s', '\u00a0')).toBe(false);
    expect(f.regexMatch('(?i)k', '\u212a')).toBe(true); // KELVIN SIGN folds to k in Go
    expect(f.regexMatch('(?i)^[a-z]+$', 'ſ')).toBe(true);
  });

  it('RE2 spellings JavaScript lacks: POSIX classes, \\Q…\\E, \\pL, \\x{…}, and refuses unknown escapes', () => {
    expect(f.regexReplaceAll('[[:alpha:]]+', 'ab1', '-')).toBe('-1');
    expect(f.regexMatch('[^[:space:]]', ' x')).toBe(true);
    expect(f.regexMatch('\\Qa.b\\E', 'axb')).toBe(false);
    expect(f.regexMatch('\\Qa.b\\E', 'a.b')).toBe(true);
    expect(f.regexReplaceAll('\\pL+', 'é1', '-')).toBe('-1');
    expect(f.regexMatch('\\x{41}', 'A')).toBe(true);
    expect(() => f.mustRegexMatch('\\Z', 'Z')).toThrow('invalid escape sequence: `\\Z`');
  });
});

describe("regular expressions: Go's find-all, replace and split", () => {
  it('an empty match right after a match is skipped', () => {
    expect(f.regexFindAll('a*', 'baaac', -1n)).toEqual(['', 'aaa', '']);
    expect(f.regexReplaceAll('a*', 'baaac', '-')).toBe('-b-c-');
    expect(f.regexSplit('a*', 'baaac', -1n)).toEqual(['b', 'c']);
  });

  it("the replacement is Go's Expand: a missing group is empty, $1W names group 1W", () => {
    expect(f.regexReplaceAll('a(x*)b', '-ab-axxb-', '$1W')).toBe('---');
    expect(f.regexReplaceAll('a(x*)b', '-ab-axxb-', '<$2>')).toBe('-<>-<>-');
    expect(f.regexReplaceAll('a(x*)b', '-ab-axxb-', '$10')).toBe('---');
    expect(f.regexReplaceAll('a(x*)b', '-ab-axxb-', '$0')).toBe('-ab-axxb-');
    expect(f.regexReplaceAll('(?P<w>x+)', 'axxb', '${w}$w!$')).toBe('axxxx!$b');
    expect(f.regexReplaceAllLiteral('a(x*)b', '-ab-', '$1')).toBe('-$1-');
  });

  it('split leaves groups out and keeps the rest in the last part', () => {
    expect(f.regexSplit('(-)', 'a-b-c', 2n)).toEqual(['a', 'b-c']);
    expect(f.regexSplit('(-)', 'a-b-c', -1n)).toEqual(['a', 'b', 'c']);
    expect(f.regexSplit('-', 'a-b', 0n)).toEqual([]);
  });
});

describe('still refused as Go refuses', () => {
  it('a lookahead in a chart', async () => {
    refuses(await chartWith({ 'templates/t.yaml': 'a: {{ regexFind "(?=a)" "aa" }}' }), /invalid or unsupported Perl syntax: `\(\?=`/);
  });
});

describe("a function called with the wrong number of arguments fails, as Go's evalCall does", () => {
  const withTemplate = (body: string) => chartWith({ 'templates/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n${body}\n` }, 'a: true\nb: {}\n');

  // cockroachdb's serviceMonitor: `{{- if and not .Values.visus.insecure .Values.serviceMonitor.tlsConfig }}`.
  // `not` as an argument is a call with no arguments; Go refuses it before evaluating anything,
  // and helm template fails. ferry called not() and rendered the ServiceMonitor.
  it('`and not .a .b` (cockroachdb) and `include` with no arguments (chainloop) are refused', async () => {
    refuses(await withTemplate('{{- if and not .Values.a .Values.b }}\n  x: y\n{{- end }}'), /cm\.yaml:6:11: executing "c\d+\/templates\/cm\.yaml" at <not>: wrong number of args for not: want 1 got 0$/);
    refuses(await withTemplate('  x: {{ include }}'), /at <include>: wrong number of args for include: want 2 got 0$/);
  });

  it("counts the piped value, and a variadic function's written arguments", async () => {
    refuses(await withTemplate('  x: {{ "a" | upper "b" }}'), /wrong number of args for upper: want 1 got 2$/);
    refuses(await withTemplate('  x: {{ printf }}'), /wrong number of args for printf: want at least 1 got 0$/);
    refuses(await withTemplate('  x: {{ lookup "v1" "Secret" }}'), /wrong number of args for lookup: want 4 got 2$/);
  });

  it('renders the counts Go takes', async () => {
    const r = renderChart(await withTemplate('  x: {{ default "d" | quote }}\n  v: {{ "a" | default "d" }}\n  z: {{ not .Values.a }}\n  w: {{ list | len }}'));
    expect(r.documents[0].object).toMatchObject({ data: { x: 'd', v: 'a', z: false, w: 0 } });
  });

  // pytorch's deployment calls `{{ template "mxnet.volumePermissions.image" . }}`, defined in no file.
  it('names an undefined template action as Go does', async () => {
    refuses(await withTemplate('  x: {{ template "nowhere" . }}'), /template "nowhere" not defined$/);
  });
});

describe('a string parameter given nil is reported at the argument, as Go reports it', () => {
  // jenkins' secondary ingress: `{{ tpl .Values.controller.secondaryingress.hostName $ }}` with no
  // hostName. Go evaluates the field for tpl's string parameter and fails there with the nil
  // interface's type; ferry named `<tpl>` and Go's message for a piped nil.
  it('names the field, and keeps the piped form at the function', async () => {
    const chart = (body: string) => chartWith({ 'templates/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  x: ${body}\n` }, 'c: {}\n');
    refuses(await chart('{{ tpl .Values.c.hostName $ }}'), /at <\.Values\.c\.hostName>: wrong type for value; expected string; got interface \{\}$/);
    refuses(await chart('{{ .Values.c.hostName | b64enc }}'), /at <b64enc>: invalid value; expected string$/);
    refuses(await chart('{{ $h := .Values.c.hostName }}{{ tpl $h $ }}'), /at <\$h>: invalid value; expected string$/);
  });
});

describe("sprig's case functions are the Go libraries' (xstrings v1.4.0, Helm 3.14's pin; goutils v1.1.1)", () => {
  // victoria-metrics-k8s-stack's `vm-k8s-stack.rulegroup.key`: `… | join "-" | camelcase | untitle`
  // on `kubernetes-apps`. xstrings joins words at `-`, `_` and spaces; ferry split at `_` only, so
  // the key was `kubernetes-apps`, no group matched and every rule printed `namespace=~"%!s(<nil>)"`.
  it('camelcase joins words at -, _ and spaces and keeps the other letters as written', () => {
    expect(f.untitle(f.camelcase('kubernetes-apps'))).toBe('kubernetesApps');
    expect(f.camelcase('mixed_Case-with Spaces')).toBe('MixedCaseWithSpaces');
    expect(f.camelcase('_complex__case_')).toBe('_Complex_Case_');
    expect(f.camelcase('GO PATH')).toBe('GOPATH');
  });

  it('snakecase and kebabcase split capitals and numbers as xstrings does', () => {
    expect(f.snakecase('HTTPServer')).toBe('http_server');
    expect(f.snakecase('HTTP20xOK')).toBe('http_20x_ok');
    expect(f.kebabcase('Bld4Floor3rd')).toBe('bld4-floor-3rd');
    expect(f.kebabcase('vm-k8s-stack')).toBe('vm-k-8s-stack');
    expect(f.snakecase('node.kubernetes.io')).toBe('node.kubernetes.io');
    expect(f.snakecase('ÀbcDéf')).toBe('àbc_déf');
    expect(f.snakecase('  lead')).toBe('__lead');
  });

  it('initials splits at whitespace only; title is strings.Title', () => {
    expect(f.initials('kubernetes-apps')).toBe('k');
    expect(f.initials('Foo Bar baz')).toBe('FBb');
    expect(f.title("it's a-b")).toBe("It'S A-B");
    expect(f.title('«bonjour» monde')).toBe('«bonjour» Monde');
    expect(f.swapcase('ǆabc Def')).toBe('ǅABC dEF');
  });
});

describe("urlParse and urlJoin are Go's net/url", () => {
  // victoria-traces-cluster's vmauth config: `urlParse (include "vm.url" .)` on
  // `http://…:10471`, then `printf "%s/select" $url.path`. Go's path is empty; JavaScript's URL
  // gave `/`, so the route was `//select/.*` and the Secret differed from Helm's.
  it('keeps an empty path empty, and takes what Go takes', () => {
    expect(f.urlParse('http://x:1')).toMatchObject({ path: '', host: 'x:1', hostname: 'x' });
    expect(f.urlParse('x.y/a')).toMatchObject({ scheme: '', host: '', path: 'x.y/a' });
    expect(f.urlParse('mailto:a@b')).toMatchObject({ scheme: 'mailto', opaque: 'a@b' });
    expect(f.urlParse('HTTP://X.Y:80/A')).toMatchObject({ scheme: 'http', host: 'X.Y:80', path: '/A' });
    expect(f.urlParse('redis://:pass@h:6379/0')).toMatchObject({ userinfo: ':pass', hostname: 'h' });
    expect(f.urlParse('http://[::1]:8080/p')).toMatchObject({ host: '[::1]:8080', hostname: '::1' });
  });

  it("refuses what Go refuses, with Go's reason", () => {
    expect(() => f.urlParse('a:b/c?')).not.toThrow();
    expect(() => f.urlParse('x:1/p')).not.toThrow(); // a scheme `x`: opaque
    expect(() => f.urlParse('1x:1/p')).toThrow('unable to parse url: parse "1x:1/p": first path segment in URL cannot contain colon');
    expect(() => f.urlParse('http://x:abc/')).toThrow('unable to parse url: parse "http://x:abc/": invalid port ":abc" after host');
    expect(() => f.urlParse('http://x/%zz')).toThrow('invalid URL escape "%zz"');
  });

  it('urlJoin writes URL.String', () => {
    expect(f.urlJoin({ scheme: 'http', host: 'x:1', path: '/p q', query: 'a=1' })).toBe('http://x:1/p%20q?a=1');
    expect(f.urlJoin({ scheme: 'http', host: 'x:1', path: 'rel' })).toBe('http://x:1/rel');
    expect(f.urlJoin({ path: 'a:b' })).toBe('./a:b');
    expect(f.urlJoin({ scheme: 'https', host: 'h', userinfo: 'u:p%20w' })).toBe('https://u:p%20w@h');
    expect(() => f.urlJoin({ scheme: 'https', host: 'h', userinfo: 'u:p w' })).toThrow('unable to parse userinfo in dict: parse "proto://u:p w@host": net/url: invalid userinfo');
    expect(() => f.urlJoin({ scheme: 'http', host: 1 })).toThrow('unable to parse host key, must be of type string, but float64 found');
  });
});

describe('--render helm: a document whose text starts with ---', () => {
  // yugabyte's certificates.yaml writes `---` twice before a Certificate; Helm's split keeps the
  // second in the document, and helm template prints `---\n# Source: …\n---\napiVersion: …`.
  // Splitting that output at every `---` left the Certificate without its Source line, and dropped it.
  it('keeps the document', () => {
    const out = '---\n# Source: c/templates/a.yaml\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n# Source: c/templates/b.yaml\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\nspec:\n  containers:\n  - image: busybox\n';
    expect(documentsFromHelmOutput(out).map((d) => `${d.source} ${d.kind}/${d.name}`)).toEqual(['c/templates/a.yaml ConfigMap/a', 'c/templates/b.yaml Pod/b']);
  });
});

describe('sprig functions against Go (sprig 3.2.3 with Helm 3.14’s libraries, run on this machine)', () => {
  // A crafted `chunk 0` looped for ever, pushing empty chunks until the process ran out of
  // memory. Go sizes the result with a float division and cannot allocate it: helm template fails.
  it('chunk with a size of 0 or less fails, as Go does, and returns', () => {
    expect(() => f.chunk(0n, [1, 2, 3])).toThrow('runtime error: makeslice: len out of range');
    expect(() => f.chunk(-1n, [1])).toThrow('makeslice');
    expect(f.chunk(2n, [1, 2, 3])).toEqual([[1, 2], [3]]);
  }, 10_000);

  it('addf, subf, mulf and divf compute in decimal (shopspring/decimal)', () => {
    expect(f.mulf(0.1, 3n)).toBe(0.3);
    expect(f.addf(0.1, 0.2)).toBe(0.3);
    expect(f.subf(0.3, 0.1)).toBe(0.2);
    expect(f.divf(2n, 3n)).toBe(0.6666666666666667);
    expect(f.add1f(0.1)).toBe(1.1);
    expect(f.add()).toEqual(int64Of(0n));
  });

  it("printf rounds half to even, writes a negative's sign first and reads %.Nv of a float as %g", () => {
    expect(goSprintf('%.0f|%.0f|%.1f|%.0e|%.2g', [2.5, 3.5, 0.25, 2.5, 0.125])).toBe('2|4|0.2|2e+00|0.12');
    expect(goSprintf('%f', [1e21])).toBe('1000000000000000000000.000000');
    expect(goSprintf('%x|%#x|%o', [-255n, -255n, -8n])).toBe('-ff|-0xff|-10');
    expect(goSprintf('%6.2v|%.3v', [3.14159, 'hello'])).toBe('   3.1|hel');
  });

  // Masterminds reads `>1.20-0` as above every 1.20.x and `<=1.10-0` as every 1.10.x; ferry
  // padded them to 1.20.0 and 1.10.0. `!=` was no npm operator (nothing met it).
  it("semverCompare: Masterminds' partial > and <=, !=, and leading zeros", () => {
    expect(f.semverCompare('>1.20-0', '1.20.5')).toBe(false);
    expect(f.semverCompare('>1.20-0', '1.21.0')).toBe(true);
    expect(f.semverCompare('<=1.10-0', '1.10.5')).toBe(true);
    expect(f.semverCompare('>1, !=1.5.0', '1.6.0')).toBe(false);
    expect(f.semverCompare('!=1.2.3', '1.2.4')).toBe(true);
    expect(f.semverCompare('!=1.2.3', '1.2.3')).toBe(false);
    expect(f.semverCompare('!=1.2.x', '1.2.9')).toBe(false);
    expect(f.semverCompare('01.2.x', '1.2.5')).toBe(true);
    expect((f.semver('01.2.3+meta') as { String(): string }).String()).toBe('1.2.3+meta');
  });

  it("float64 is strconv.ParseFloat's (cast): underscores, hex floats, inf; no spaces, no hex integers", () => {
    expect(f.float64('1_000')).toBe(1000);
    expect(f.float64('0x1p-2')).toBe(0.25);
    expect(f.float64('-Inf')).toBe(-Infinity);
    expect(f.float64('0x1F')).toBe(0);
    expect(f.float64(' 3')).toBe(0);
    expect(f.float64('1e_3')).toBe(0);
  });

  it('string functions Go writes on bytes', () => {
    expect(() => f.substr(5n, 2n, 'Hello, World')).toThrow('runtime error: slice bounds out of range [5:2]');
    expect(f.substr(1n, 3n, 'héllo')).toBe('é');
    expect(f.nospace('é a')).toBe('Ã©a');
    expect(f.abbrevboth(5n, 15n, '1234567890abcdefghij')).toBe('...67890abcd...');
    expect(f.b32dec('NBSWY3DP')).toBe('hello');
    expect(f.b32dec('NBSWY3D')).toBe('illegal base32 data at input byte 0');
    expect(f.replace('', '-', 'abc')).toBe('-a-b-c-');
    expect((f.splitn(',', 0n, 'a,b') as GoTypedMap).entries).toEqual({});
    expect(() => f.repeat(-1n, 'x')).toThrow('strings: negative Repeat count');
    expect(() => f.slice([1, 2, 3], 1n, 99n)).toThrow('reflect.Value.Slice: slice index out of bounds');
    expect((f.htpasswd('user', 'pw') as string).length).toBe(65);
  });

  it('durations are time.Duration’s; a date string is no time to sprig (now, as in Go)', () => {
    expect(f.duration('3661')).toBe('1h1m1s');
    expect(f.duration(3661.5)).toBe('0s');
    expect(f.durationRound('2h10m5s')).toBe('2h');
    expect(f.durationRound('8761h')).toBe('1y');
    expect(f.date('2006-01-02', f.toDate('2006-01-02', '2024-02-29'))).toBe('2024-02-29');
    expect(f.date('2006-01-02', '2024-02-29')).toBe(f.date('2006-01-02', f.now()));
    expect(f.date('15:04', f.dateModify('-1.5h', f.toDate('2006-01-02', '2024-02-29')))).toBe('22:30');
  });
});
