import { goTypeName, isMap, isNil } from './govalue.js';
import type { Arg } from './parse.js';

/**
 * The typed parameters of the template functions, from their Go signatures (sprig v3's TxtFuncMap
 * read by reflection, Helm's own functions, Go's printf). Go's text/template converts each argument
 * to its parameter's type before the call (exec.go evalArg), and refuses what does not convert:
 *
 * - a value (a field, variable, parenthesized pipeline, dot or the piped value) must be of the type
 *   (validateType): a nil is `wrong type for value; expected string; got interface {}` when it is a
 *   nil interface {} (found by a map lookup, `.Values.unset`, or ranged from an []interface{} or
 *   map[string]interface{}), `invalid value; expected string` when it is Go's invalid value (a
 *   pipeline's result, which evalPipeline unwraps, a variable holding one, a field of a nil dot:
 *   `.Release.Name` in a define given `.Subcharts.missing`); a number, list or map is
 *   `wrong type for value; expected string; got …` — so `{{ .Values.unset | b64enc }}` makes
 *   `helm template` fail rather than print an empty string, and `nindent .Values.n` fails (every
 *   number in Helm's values is a float64, and `nindent` takes an int);
 * - a literal must be one of the type: `expected integer; found "2"` (a whole number literal, even
 *   `2.0`, is an integer), `expected bool; found "s"`, `expected string; found 5`, and a literal
 *   `nil` is `cannot assign nil to int` where the type cannot be nil.
 *
 * The `map[string]interface {}` parameters (sprig's dict functions) likewise: a nil interface {}
 * (`get .Values.global "x"` with no `global`) is `wrong type for value; expected
 * map[string]interface {}; got interface {}`, where a literal `nil` or an invalid value (the piped
 * value) is taken as an empty map (checked against Helm 3.14's sprig v3.2.3).
 *
 * One letter a parameter: `s` a string, `m` a map, `i` an int, `b` a bool, `_` anything else (not
 * checked here); a trailing `*s`, `*m` or `*i` is a variadic `...string`, `...map[string]interface {}`
 * or `...int`. An int is a bigint; an int64 (a GoSizedInt: `add`'s result, a `--set` integer) is
 * refused as Go refuses it (`indent (add 2 2) "x"`: `wrong type for value; expected int; got int64`).
 */
const SIGNATURES = new Map<string, string>(Object.entries({
  // sprig
  abbrev: 'is', abbrevboth: 'iis', adler32sum: 's', atoi: 's', b32dec: 's', b32enc: 's', b64dec: 's', b64enc: 's',
  base: 's', bcrypt: 's', buildCustomCert: 'ss', camelcase: 's', chunk: 'i_', clean: 's', contains: 'ss', date: 's_',
  dateInZone: 's_s', dateModify: 's_', date_in_zone: 's_s', date_modify: 's_', decryptAES: 'ss',
  derivePassword: '_ssss', dir: 's', encryptAES: 'ss', ext: 's', fail: 's', fromJson: 's', genCA: 'si',
  genCAWithKey: 'sis', genPrivateKey: 's', genSelfSignedCert: 's__i', genSelfSignedCertWithKey: 's__is',
  genSignedCert: 's__i_', genSignedCertWithKey: 's__i_s', get: 'ms', getHostByName: 's', hasKey: 'ms',
  hasPrefix: 'ss', hasSuffix: 'ss', htmlDateInZone: '_s', htpasswd: 'ss', indent: 'is', initials: 's',
  isAbs: 's', join: 's_', kebabcase: 's', kindIs: 's_', lower: 's', mustChunk: 'i_', mustDateModify: 's_', mustFromJson: 's',
  mustRegexFind: 'ss', mustRegexFindAll: 'ssi', mustRegexMatch: 'ss', mustRegexReplaceAll: 'sss',
  mustRegexReplaceAllLiteral: 'sss', mustRegexSplit: 'ssi', mustToDate: 'ss', must_date_modify: 's_',
  nindent: 'is', nospace: 's', omit: 'm*s', osBase: 's', osClean: 's', osDir: 's', osExt: 's', osIsAbs: 's',
  pick: 'm*s', pluck: 's*m', plural: 'ssi', randAlpha: 'i', randAlphaNum: 'i', randAscii: 'i', randBytes: 'i',
  randInt: 'ii', randNumeric: 'i', regexFind: 'ss', regexFindAll: 'ssi', regexMatch: 'ss',
  regexQuoteMeta: 's', regexReplaceAll: 'sss', regexReplaceAllLiteral: 'sss', regexSplit: 'ssi', repeat: 'is',
  replace: 'sss', round: '_i', semver: 's', semverCompare: 'ss', seq: '*i', set: 'ms_', sha1sum: 's', sha256sum: 's', shuffle: 's',
  snakecase: 's', split: 'ss', splitList: 'ss', splitn: 'sis', substr: 'iis', swapcase: 's', ternary: '__b', title: 's',
  toDate: 'ss', trim: 's', trimAll: 'ss', trimPrefix: 'ss', trimSuffix: 'ss', trimall: 'ss', trunc: 'is',
  typeIs: 's_', typeIsLike: 's_', unset: 'ms', until: 'i', untilStep: 'iii', untitle: 's', upper: 's', urlParse: 's',
  wrap: 'is', wrapWith: 'iss',
  keys: '*m', values: 'm', merge: 'm*m', mustMerge: 'm*m', mergeOverwrite: 'm*m', mustMergeOverwrite: 'm*m',
  // Helm
  include: 's_', tpl: 's_', required: 's_', fromYaml: 's', fromYamlArray: 's', fromJsonArray: 's', lookup: 'ssss',
  // Go
  printf: 's',
}));

const TYPE: Record<string, string> = { s: 'string', m: 'map[string]interface {}', i: 'int', b: 'bool' };

/** Go's evalArg of a literal for a parameter of that kind: the complaint, or undefined when it converts. */
function literalError(kind: string, a: Arg): string | undefined {
  const text = a.type === 'number' ? a.text : a.type === 'string' ? a.quoted : a.type === 'bool' ? String(a.value) : 'nil';
  if (a.type === 'nil') return kind === 'm' ? undefined : `cannot assign nil to ${TYPE[kind]}`;
  switch (kind) {
    case 's':
      return a.type === 'string' ? undefined : `expected string; found ${text}`;
    case 'b':
      return a.type === 'bool' ? undefined : `expected bool; found ${text}`;
    case 'i': {
      // parse.NumberNode's IsInt: an integer literal within int64, or a float literal that is whole
      const whole = a.type === 'number' && (typeof a.value === 'bigint' || (Number.isInteger(a.value) && Math.abs(a.value) < 2 ** 63));
      return whole ? undefined : `expected integer; found ${text}`;
    }
    default:
      return `can't handle ${text} for arg of type ${TYPE[kind]}`;
  }
}

/** Go's validateType of a value for a parameter of that kind. `nilIface`: a nil is a nil interface {}, not Go's invalid value. */
function valueError(kind: string, v: unknown, nilIface: boolean): string | undefined {
  if (kind === 'm') {
    // a nil map is a map: only a nil `interface {}` is refused; a map of another type
    // (`split`'s map[string]string, `.Files`), a struct or a []byte is refused as Go refuses it
    if (isNil(v) ? !nilIface : isMap(v)) return undefined;
    return `wrong type for value; expected ${TYPE.m}; got ${isNil(v) ? 'interface {}' : goTypeName(v)}`;
  }
  if (isNil(v)) return nilIface ? `wrong type for value; expected ${TYPE[kind]}; got interface {}` : `invalid value; expected ${TYPE[kind]}`;
  const fits = kind === 's' ? typeof v === 'string' : kind === 'b' ? typeof v === 'boolean' : typeof v === 'bigint';
  return fits ? undefined : `wrong type for value; expected ${TYPE[kind]}; got ${goTypeName(v)}`;
}

const LITERAL = new Set<Arg['type']>(['nil', 'bool', 'number', 'string']);

/**
 * Go's complaint about the arguments of `name` (undefined when every typed parameter has a value
 * of its type), and which argument it is about. `written(i)`: the node argument `i` was written as
 * (undefined for the piped value, which Go checks as a value); `nilIface(i)`: argument `i`, when
 * nil, is a nil interface {} rather than Go's invalid value (see valueError).
 */
export function argTypeError(
  name: string,
  args: readonly unknown[],
  written: (i: number) => Arg | undefined = () => undefined,
  from = 0,
  nilIface: (i: number) => boolean = () => false,
): { at: number; message: string } | undefined {
  const sig = SIGNATURES.get(name);
  if (sig === undefined) return undefined;
  const variadic = sig.length >= 2 && sig[sig.length - 2] === '*' ? sig[sig.length - 1] : undefined;
  const fixed = variadic ? sig.length - 2 : sig.length;
  for (let i = from; i < args.length; i++) {
    const kind = i < fixed ? sig[i] : variadic ?? '_';
    if (kind === '_') continue;
    const a = written(i);
    const message =
      a && LITERAL.has(a.type)
        ? literalError(kind, a)
        : valueError(kind, args[i], nilIface(i));
    if (message) return { at: i, message };
  }
  return undefined;
}

/**
 * How many arguments each template function takes, from its Go signature: sprig v3.2.3's
 * TxtFuncMap read by reflection (Helm 3.14's sprig), Helm's own functions and text/template's
 * builtins (`and`/`or` are checked where they short-circuit). `n+` is variadic, at least n. Go
 * checks the count before it evaluates any argument: `{{ and not .a .b }}` (cockroachdb's
 * serviceMonitor) is `wrong number of args for not: want 1 got 0`, and helm template fails.
 */
const ARITY_BY_COUNT: Record<string, string> = {
  '0': 'hello now uuidv4',
  '0+': 'add addf all any cat coalesce concat dict dig html js keys list print println quote seq squote tuple urlquery',
  '1':
    'add1 add1f adler32sum ago atoi b32dec b32enc b64dec b64enc base bcrypt camelcase ceil clean compact deepCopy dir duration durationRound empty ext fail first float64 floor fromJson fromJsonArray fromToml fromYaml fromYamlArray genPrivateKey getHostByName htmlDate initial initials int int64 isAbs kebabcase kindOf last len lower mustCompact mustDeepCopy mustFirst mustFromJson mustInitial mustLast mustRest mustReverse mustToJson mustToPrettyJson mustToRawJson mustToYaml mustUniq nospace not osBase osClean osDir osExt osIsAbs randAlpha randAlphaNum randAscii randBytes randNumeric regexQuoteMeta rest reverse semver sha1sum sha256sum shuffle snakecase sortAlpha swapcase title toDecimal toJson toPrettyJson toRawJson toString toStrings toToml toYaml toYamlPretty trim typeOf uniq unixEpoch until untitle upper urlJoin urlParse values',
  '1+': 'biggest call default divf eq index max maxf merge mergeOverwrite min minf mul mulf mustMerge mustMergeOverwrite mustSlice mustWithout omit pick pluck printf slice subf without',
  '2':
    'abbrev append buildCustomCert chunk contains date dateModify date_modify decryptAES deepEqual div encryptAES ge genCA get gt has hasKey hasPrefix hasSuffix htmlDateInZone htpasswd include indent join kindIs le lt mod mustAppend mustChunk mustDateModify mustHas mustPrepend mustPush mustRegexFind mustRegexMatch mustToDate must_date_modify ne nindent prepend push randInt regexFind regexMatch repeat required semverCompare split splitList sub toDate tpl trimAll trimPrefix trimSuffix trimall trunc typeIs typeIsLike unset wrap',
  '2+': 'round',
  '3': 'abbrevboth dateInZone date_in_zone genCAWithKey mustRegexFindAll mustRegexReplaceAll mustRegexReplaceAllLiteral mustRegexSplit plural regexFindAll regexReplaceAll regexReplaceAllLiteral regexSplit replace set splitn substr ternary untilStep wrapWith',
  '4': 'genSelfSignedCert lookup',
  '5': 'derivePassword genSelfSignedCertWithKey genSignedCert',
  '6': 'genSignedCertWithKey',
};
const ARITY = new Map<string, { n: number; variadic: boolean }>();
for (const [count, names] of Object.entries(ARITY_BY_COUNT)) {
  for (const name of names.split(' ')) ARITY.set(name, { n: parseInt(count, 10), variadic: count.endsWith('+') });
}

/**
 * Go's complaint when `name` is called with `args` arguments written after it and, when `piped`,
 * the pipeline's value as the last (undefined when the count fits or the function is not known).
 * The wording is evalCall's: a variadic function counts the written arguments only.
 */
export function arityError(name: string, args: number, piped: boolean): string | undefined {
  const a = ARITY.get(name);
  if (!a) return undefined;
  const numIn = args + (piped ? 1 : 0);
  if (a.variadic) return numIn < a.n ? `wrong number of args for ${name}: want at least ${a.n} got ${args}` : undefined;
  return numIn !== a.n ? `wrong number of args for ${name}: want ${a.n} got ${numIn}` : undefined;
}

/**
 * The typed parameters of the methods Helm's objects carry, as the SIGNATURES letters: engine.files'
 * Get/GetBytes/Glob/Lines, chartutil.VersionSet's Has and time.Time's Format take a string.
 * (`.Capabilities.APIVersions.Has 1` is `expected string; found 1`; an unset value is `wrong type
 * for value; expected string; got interface {}`: helm template fails.)
 */
const METHOD_SIGNATURES = new Map<string, string>(Object.entries({ Get: 's', GetBytes: 's', Glob: 's', Lines: 's', Has: 's', Format: 's' }));

/** Go's complaint about argument `i` of a method (`written`: its literal node, if it is one). */
export function methodArgTypeError(name: string, i: number, v: unknown, written: Arg | undefined, nilIface: boolean): string | undefined {
  const kind = METHOD_SIGNATURES.get(name)?.[i] ?? '_';
  if (kind === '_') return undefined;
  return written && LITERAL.has(written.type) ? literalError(kind, written) : valueError(kind, v, nilIface);
}
