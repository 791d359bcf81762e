import { goTypeName, isNil } from './govalue.js';

/**
 * The `string` parameters of the template functions, from their Go signatures (sprig v3's
 * TxtFuncMap read by reflection, Helm's own functions, Go's printf). Go's text/template checks each
 * argument against its parameter's type before the call: a missing value or nil handed to a
 * `string` parameter fails with `invalid value; expected string`, a number, list or map with
 * `wrong type for value; expected string; got …` — so `{{ .Values.unset | b64enc }}` makes
 * `helm template` fail rather than print an empty string.
 *
 * The `map[string]interface {}` parameters (sprig's dict functions) likewise: a missing or nil
 * field (`get .Values.global "x"` with no `global`) is `wrong type for value; expected
 * map[string]interface {}; got interface {}`, where a literal `nil` or a piped value is taken as an
 * empty map (checked against Helm 3.14's sprig v3.2.3).
 *
 * One letter a parameter: `s` a string, `m` a map, `_` anything else (not checked here); a
 * trailing `*s` or `*m` is a variadic `...string` or `...map[string]interface {}`.
 */
const SIGNATURES = new Map<string, string>(Object.entries({
  // sprig
  abbrev: '_s', abbrevboth: '__s', adler32sum: 's', atoi: 's', b32dec: 's', b32enc: 's', b64dec: 's', b64enc: 's',
  base: 's', bcrypt: 's', buildCustomCert: 'ss', camelcase: 's', clean: 's', contains: 'ss', date: 's_',
  dateInZone: 's_s', dateModify: 's_', date_in_zone: 's_s', date_modify: 's_', decryptAES: 'ss',
  derivePassword: '_ssss', dir: 's', encryptAES: 'ss', ext: 's', fail: 's', fromJson: 's', genCA: 's_',
  genCAWithKey: 's_s', genPrivateKey: 's', genSelfSignedCert: 's___', genSelfSignedCertWithKey: 's___s',
  genSignedCert: 's____', genSignedCertWithKey: 's____s', get: 'ms', getHostByName: 's', hasKey: 'ms',
  hasPrefix: 'ss', hasSuffix: 'ss', htmlDateInZone: '_s', htpasswd: 'ss', indent: '_s', initials: 's',
  isAbs: 's', join: 's_', kebabcase: 's', kindIs: 's_', lower: 's', mustDateModify: 's_', mustFromJson: 's',
  mustRegexFind: 'ss', mustRegexFindAll: 'ss_', mustRegexMatch: 'ss', mustRegexReplaceAll: 'sss',
  mustRegexReplaceAllLiteral: 'sss', mustRegexSplit: 'ss_', mustToDate: 'ss', must_date_modify: 's_',
  nindent: '_s', nospace: 's', omit: 'm*s', osBase: 's', osClean: 's', osDir: 's', osExt: 's', osIsAbs: 's',
  pick: 'm*s', pluck: 's*m', plural: 'ss_', regexFind: 'ss', regexFindAll: 'ss_', regexMatch: 'ss',
  regexQuoteMeta: 's', regexReplaceAll: 'sss', regexReplaceAllLiteral: 'sss', regexSplit: 'ss_', repeat: '_s',
  replace: 'sss', semver: 's', semverCompare: 'ss', set: 'ms_', sha1sum: 's', sha256sum: 's', shuffle: 's',
  snakecase: 's', split: 'ss', splitList: 'ss', splitn: 's_s', substr: '__s', swapcase: 's', title: 's',
  toDate: 'ss', trim: 's', trimAll: 'ss', trimPrefix: 'ss', trimSuffix: 'ss', trimall: 'ss', trunc: '_s',
  typeIs: 's_', typeIsLike: 's_', unset: 'ms', untitle: 's', upper: 's', urlParse: 's', wrap: '_s', wrapWith: '_ss',
  keys: '*m', values: 'm', merge: 'm*m', mustMerge: 'm*m', mergeOverwrite: 'm*m', mustMergeOverwrite: 'm*m',
  // Helm
  include: 's_', tpl: 's_', required: 's_', fromYaml: 's', fromYamlArray: 's', fromJsonArray: 's', lookup: 'ssss',
  // Go
  printf: 's',
}));

/**
 * Go's complaint about the arguments of `name` (undefined when every string parameter has a
 * string), and which argument it is about. `fromField(i)`: argument `i` was written as a field
 * (`.Values.a.b`), whose missing or nil value is a nil `interface {}` in Go, not an invalid value.
 */
export function stringArgError(name: string, args: readonly unknown[], fromField: (i: number) => boolean = () => false): { at: number; message: string } | undefined {
  const sig = SIGNATURES.get(name);
  if (sig === undefined) return undefined;
  const variadic = sig.length >= 2 && sig[sig.length - 2] === '*' ? sig[sig.length - 1] : undefined;
  const fixed = variadic ? sig.length - 2 : sig.length;
  for (let i = 0; i < args.length; i++) {
    const kind = i < fixed ? sig[i] : variadic ?? '_';
    const v = args[i];
    if (kind === 's') {
      if (typeof v === 'string') continue;
      if (isNil(v)) return { at: i, message: fromField(i) ? 'wrong type for value; expected string; got interface {}' : 'invalid value; expected string' };
      return { at: i, message: `wrong type for value; expected string; got ${goTypeName(v)}` };
    }
    if (kind === 'm') {
      // a nil map is a map: only a field's nil `interface {}` is refused; objects (maps, Helm's
      // structs) are left to the function itself
      if (isNil(v) ? fromField(i) : typeof v !== 'object' || Array.isArray(v)) {
        return { at: i, message: `wrong type for value; expected map[string]interface {}; got ${isNil(v) ? 'interface {}' : goTypeName(v)}` };
      }
    }
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
