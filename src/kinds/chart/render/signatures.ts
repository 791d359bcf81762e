import { goTypeName, isNil } from './govalue.js';

/**
 * The `string` parameters of the template functions, from their Go signatures (sprig v3's
 * TxtFuncMap read by reflection, Helm's own functions, Go's printf). Go's text/template checks each
 * argument against its parameter's type before the call: a missing value or nil handed to a
 * `string` parameter fails with `invalid value; expected string`, a number, list or map with
 * `wrong type for value; expected string; got …` — so `{{ .Values.unset | b64enc }}` makes
 * `helm template` fail rather than print an empty string.
 *
 * One letter a parameter: `s` a string, `_` anything else (not checked here); a trailing `*s`
 * is a variadic `...string`.
 */
const SIGNATURES = new Map<string, string>(Object.entries({
  // sprig
  abbrev: '_s', abbrevboth: '__s', adler32sum: 's', atoi: 's', b32dec: 's', b32enc: 's', b64dec: 's', b64enc: 's',
  base: 's', bcrypt: 's', buildCustomCert: 'ss', camelcase: 's', clean: 's', contains: 'ss', date: 's_',
  dateInZone: 's_s', dateModify: 's_', date_in_zone: 's_s', date_modify: 's_', decryptAES: 'ss',
  derivePassword: '_ssss', dir: 's', encryptAES: 'ss', ext: 's', fail: 's', fromJson: 's', genCA: 's_',
  genCAWithKey: 's_s', genPrivateKey: 's', genSelfSignedCert: 's___', genSelfSignedCertWithKey: 's___s',
  genSignedCert: 's____', genSignedCertWithKey: 's____s', get: '_s', getHostByName: 's', hasKey: '_s',
  hasPrefix: 'ss', hasSuffix: 'ss', htmlDateInZone: '_s', htpasswd: 'ss', indent: '_s', initials: 's',
  isAbs: 's', join: 's_', kebabcase: 's', kindIs: 's_', lower: 's', mustDateModify: 's_', mustFromJson: 's',
  mustRegexFind: 'ss', mustRegexFindAll: 'ss_', mustRegexMatch: 'ss', mustRegexReplaceAll: 'sss',
  mustRegexReplaceAllLiteral: 'sss', mustRegexSplit: 'ss_', mustToDate: 'ss', must_date_modify: 's_',
  nindent: '_s', nospace: 's', omit: '_*s', osBase: 's', osClean: 's', osDir: 's', osExt: 's', osIsAbs: 's',
  pick: '_*s', pluck: 's_', plural: 'ss_', regexFind: 'ss', regexFindAll: 'ss_', regexMatch: 'ss',
  regexQuoteMeta: 's', regexReplaceAll: 'sss', regexReplaceAllLiteral: 'sss', regexSplit: 'ss_', repeat: '_s',
  replace: 'sss', semver: 's', semverCompare: 'ss', set: '_s_', sha1sum: 's', sha256sum: 's', shuffle: 's',
  snakecase: 's', split: 'ss', splitList: 'ss', splitn: 's_s', substr: '__s', swapcase: 's', title: 's',
  toDate: 'ss', trim: 's', trimAll: 'ss', trimPrefix: 'ss', trimSuffix: 'ss', trimall: 'ss', trunc: '_s',
  typeIs: 's_', typeIsLike: 's_', unset: '_s', untitle: 's', upper: 's', urlParse: 's', wrap: '_s', wrapWith: '_ss',
  // Helm
  include: 's_', tpl: 's_', required: 's_', fromYaml: 's', fromYamlArray: 's', fromJsonArray: 's', lookup: 'ssss',
  // Go
  printf: 's',
}));

/** Go's complaint about the arguments of `name` (undefined when every string parameter has a string). */
export function stringArgError(name: string, args: readonly unknown[]): string | undefined {
  const sig = SIGNATURES.get(name);
  if (sig === undefined) return undefined;
  const variadic = sig.endsWith('*s');
  const fixed = variadic ? sig.length - 2 : sig.length;
  for (let i = 0; i < args.length; i++) {
    const kind = i < fixed ? sig[i] : variadic ? 's' : '_';
    if (kind !== 's') continue;
    const v = args[i];
    if (typeof v === 'string') continue;
    return isNil(v) ? 'invalid value; expected string' : `wrong type for value; expected string; got ${goTypeName(v)}`;
  }
  return undefined;
}
