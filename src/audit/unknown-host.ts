import type { Reference } from './scan.js';

/**
 * A reference whose host part is still a template or a variable the scan did not fill in, for
 * every finding kind (url, oci, apt, image, host, a git remote): `{{ git_base }}/app.git`,
 * `deb {{ mirror }}/debian …`, `{{ registry }}/app`, `https://${HOST}/x`, `$(SVC):80`, `$REGISTRY`.
 * Its destination is unknown, never the text as written.
 */

/** What opens a template or a variable: Jinja/Go `{{ }}` and `{% %}`, Terraform `%{ }`, shell/Compose `${ }`, `$( )`, `$VAR`. */
const OPENERS: Array<[RegExp, string]> = [
  [/^\{\{/, '}}'],
  [/^\{%/, '%}'],
  [/^%\{/, '}'],
  [/^\$\{/, '}'],
  [/^\$\(/, ')'],
  // A web server's placeholder: Caddy's `{env.API_HOST}`, `{$HOST}`, an OpenAPI server variable `{region}`.
  [/^\{(?![{%])/, '}'],
];
const SHELL_VAR = /^\$[A-Za-z_][A-Za-z0-9_]*/;
/** Host parts longer than this are cut (a hostile file's one long line): what is past it is not read as a host. */
const MAX_PART = 4096;

/**
 * Splits `s` before the first character of `stop` that is outside a template or variable;
 * returns the part before it and the first template or variable inside that part.
 */
function leadingPart(s: string, stop: string): { part: string; template?: string } {
  let template: string | undefined;
  let i = 0;
  const end = Math.min(s.length, MAX_PART);
  while (i < end) {
    const rest = s.slice(i, i + MAX_PART);
    const opener = OPENERS.find(([re]) => re.test(rest));
    if (opener) {
      const close = s.indexOf(opener[1], i + 2);
      const to = close < 0 ? end : Math.min(end, close + opener[1].length);
      template ??= s.slice(i, to);
      i = to;
      continue;
    }
    const v = SHELL_VAR.exec(rest);
    if (v) {
      template ??= v[0];
      i += v[0].length;
      continue;
    }
    if (stop.includes(s[i])) break;
    i++;
  }
  return { part: s.slice(0, i), template };
}

/** The template in an authority's host: past its user information (`user:{{ pass }}@`), before its port (`:{{ port }}`, or an scp-like `:path`). */
function hostOf(authority: string): string | undefined {
  const at = authority.lastIndexOf('@');
  const hostPort = at < 0 ? authority : authority.slice(at + 1);
  if (hostPort.startsWith('[')) return leadingPart(hostPort, ']').template;
  return leadingPart(hostPort, ':').template;
}

/**
 * The template or variable in a reference's host part, or undefined when its host is written
 * out. The host part: a URL's authority (`scheme://…`), else the value's first `/`-separated part
 * (an scp-like `git@host:path`, a bare host, a path with no scheme), and for an image the part a
 * registry would be: its first part when there is a `/` and that part holds a dot, a port, is
 * `localhost` or is a template, or the name itself when there is none (`{{ image }}` may name a
 * whole reference; `nginx:{{ tag }}` is Docker Hub's, its tag alone unknown).
 */
export function unfilledHost(r: Pick<Reference, 'kind' | 'value'>): string | undefined {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(r.value);
  if (scheme) return hostOf(leadingPart(r.value.slice(scheme[0].length), '/?#').part);
  if (r.kind !== 'image') return hostOf(leadingPart(r.value, '/').part);
  const first = leadingPart(r.value, '/');
  if (first.part.length < r.value.length) {
    const registryLike = first.template !== undefined || /[.:]/.test(first.part) || first.part === 'localhost';
    return registryLike ? first.template : undefined;
  }
  // No `/`: a template in the name (before its tag or digest) may stand for a whole reference.
  return leadingPart(r.value, ':@').template;
}

/** The note for a reference `unfilledHost` found a template or variable in (the scan's own note, where it says what sets it, goes before). */
export function unfilledHostNote(template: string): string {
  const t = template.length > 120 ? `${template.slice(0, 120)}…` : template;
  return `its host is ${t}, a template or variable filled in where the file is used (Ansible, a chart, a shell, CI, Terraform or a web server's placeholder) and not filled in by the scan: which destination it names is unknown here; scan the files that set it with this one, or declare the destination it takes`;
}

/**
 * `re` run on a line whose `{{ … }}` are each kept whole: their spaces are no separators
 * (`deb {{ mirror }}/debian bookworm main`: the URI is `{{ mirror }}/debian`, not `{{`).
 */
export function execKeepingTemplates(re: RegExp, line: string): RegExpExecArray | null {
  if (!line.includes('{{')) return re.exec(line);
  const hidden = line.replace(/\{\{.*?\}\}/g, (t) => t.replace(/[\x00\x01]/g, '').replace(/ /g, '\x00').replace(/\t/g, '\x01'));
  const m = re.exec(hidden);
  if (!m) return null;
  for (let i = 0; i < m.length; i++) if (m[i] !== undefined) m[i] = m[i].replace(/\x00/g, ' ').replace(/\x01/g, '\t');
  return m;
}

/**
 * A container image field's value that still holds a template or variable the scan does not fill
 * in (`{{ image_ref }}`, `{{ registry }}/app:1.0`, `nginx:{{ tag }}`, `$IMAGE`): one reference,
 * templates kept whole; undefined for anything else. (`${VAR}` is Compose's or Flux's, read there.)
 */
export function templatedImage(value: string): string | undefined {
  const v = value.trim();
  if (!v || v.length > MAX_PART || !/\{\{|\{%|\$\(|\$[A-Za-z_]/.test(v) || /\$\{/.test(v)) return undefined;
  const { part } = leadingPart(v, ' \t\n');
  return part === v ? v : undefined;
}

/**
 * git's scp-like remotes whose host is a template or variable (`git@{{ h }}:org/x`,
 * `git@${GIT_HOST}:org/y.git`), as written, in a line: the generic patterns need a host written out.
 */
export function templatedScpRemotes(line: string): string[] {
  const out: string[] = [];
  let tried = 0;
  for (const m of line.slice(0, 64 * 1024).matchAll(/(?<![\w.@/:-])[a-z0-9_][\w.-]*@(?=\{\{|\{%|\$\{|\$\(|\$[A-Za-z_])/gi)) {
    // A crafted line of many `a@$x` is read for its first 256 only.
    if (out.length >= 64 || ++tried > 256) break;
    const from = m.index! + m[0].length;
    const host = leadingPart(line.slice(from, from + 1024), ':/ \t"\'`');
    if (!host.template || line[from + host.part.length] !== ':') continue;
    const rest = leadingPart(line.slice(from + host.part.length + 1, from + host.part.length + 1 + 2048), ' \t"\'`;|&<>)');
    if (!/\/|\.git$/.test(rest.part)) continue;
    out.push(line.slice(m.index!, from + host.part.length + 1 + rest.part.length));
  }
  return out;
}

/** `value` with each template or variable replaced by `x`: an image reference whose tag or name only is templated (`nginx:{{ tag }}`) parsed for its registry. */
export function templatesFilled(value: string): string {
  return value.slice(0, MAX_PART).replace(/\{\{[^\n]*?\}\}|\{%[^\n]*?%\}|\$\{[^}\n]*\}|\$\([^)\n]*\)|\$[A-Za-z_][A-Za-z0-9_]*/g, 'x');
}

/**
 * A web server's variable that is always the request's path (with its query), never part of a host:
 * nginx's `$request_uri`, `$uri`, `$document_uri`; Caddy's `{uri}`, `{path}`, `{http.request.uri}`
 * (`.path`), `{http.request.orig_uri}` (`.path`); Apache mod_rewrite's `%{REQUEST_URI}`.
 */
const REQUEST_PATH_VARIABLE = /^(?:\$(?:request_uri|uri|document_uri)(?![A-Za-z0-9_])|\$\{(?:request_uri|uri|document_uri)\}|\{(?:uri|path|http\.request\.(?:orig_)?uri(?:\.path)?)\}|%\{REQUEST_URI\})/;

/**
 * A URL whose written host is followed at once by the request's path as a web server fills it in
 * (`https://upstream.example.com$request_uri`, Caddy's `https://www.vendor.io{http.request.uri}`):
 * the host is known, only the path is not. Returns the URL up to the variable and the variable;
 * undefined when the host itself holds one (`https://$host$request_uri`) or the variable is another.
 */
export function requestPathAfterHost(value: string): { base: string; variable: string } | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#$%{}\s]+)/i.exec(value.slice(0, MAX_PART));
  if (!m || /[.:@-]$/.test(m[1])) return undefined;
  const v = REQUEST_PATH_VARIABLE.exec(value.slice(m[0].length, m[0].length + 64));
  return v ? { base: m[0], variable: v[0] } : undefined;
}

/** The note for such a URL: its host is the one written, its path the request's. */
export function requestPathNote(p: { variable: string }): string {
  return `the path after the host is ${p.variable}, the web server's request path filled in per request: the host is the one written, which path it asks for is unknown here`;
}
