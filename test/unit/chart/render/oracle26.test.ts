import { describe, expect, it } from 'vitest';
import { scratchRawRender } from './run-template.js';

// Twenty-sixth pass: `.Capabilities` compared with the independent Go renderer (Go's text/template
// and sprig 3.2.3 over Helm 3.14's chartutil.Capabilities). Helm passes a *chartutil.Capabilities;
// its KubeVersion is a struct value whose String and GitVersion have pointer receivers, reached
// through the pointer (so addressable) but copied into whatever function receives it. Where the
// oracle differs from Helm it is named: it calls its types main.*, gives KubeVersion json tags that
// Helm's lacks, and leaves BuildInfo's GitCommit empty where Helm v3.14.4's release has its commit.

const render = scratchRawRender('oracle26-', { located: true });
const at = (node: string, col: number) => `ERR template: c/templates/t.yaml:1:${col}: executing "c/templates/t.yaml" at <${node}>: `;

describe('.Capabilities.KubeVersion: printed through its String where addressable, a bare struct where copied', () => {
  it('an action, a variable, with and a parenthesized pipeline keep String and GitVersion', async () => {
    expect(await render('{{ .Capabilities.KubeVersion }} {{ .Capabilities.KubeVersion.GitVersion }} {{ .Capabilities.KubeVersion.String }}')).toBe(
      'v1.29.0 v1.29.0 v1.29.0',
    );
    expect(await render('{{ $kv := .Capabilities.KubeVersion }}{{ $kv }} {{ $kv.GitVersion }} {{ with .Capabilities.KubeVersion }}{{ . }}{{ end }} {{ (.Capabilities.KubeVersion).GitVersion }}')).toBe(
      'v1.29.0 v1.29.0 v1.29.0 v1.29.0',
    );
  });
  it('a function receives the struct: {Version Major Minor}, so toString of it is no version', async () => {
    expect(await render('{{ toString .Capabilities.KubeVersion }}|{{ printf "%v|%+v" .Capabilities.KubeVersion .Capabilities.KubeVersion }}|{{ quote .Capabilities.KubeVersion }}')).toBe(
      '{v1.29.0 1 29}|{v1.29.0 1 29}|{Version:v1.29.0 Major:1 Minor:29}|"{v1.29.0 1 29}"',
    );
    expect(await render('{{ printf "%d" .Capabilities.KubeVersion }}')).toBe('{%!d(string=v1.29.0) %!d(string=1) %!d(string=29)}');
    expect(await render('{{ .Capabilities.KubeVersion | print }} {{ default "x" .Capabilities.KubeVersion }}')).toBe('{v1.29.0 1 29} {v1.29.0 1 29}');
    expect(await render('{{ semverCompare ">=1.21-0" (toString .Capabilities.KubeVersion) }}')).toBe(
      `${at('semverCompare ">=1.21-0" (toString .Capabilities.KubeVersion)', 3)}error calling semverCompare: Invalid Semantic Version`,
    );
    expect(await render('{{ semverCompare ">=1.21-0" .Capabilities.KubeVersion.Version }} {{ semverCompare "<1.21-0" .Capabilities.KubeVersion.GitVersion }}')).toBe('true false');
    expect(await render('{{ eq .Capabilities.KubeVersion .Capabilities.KubeVersion }} {{ deepEqual .Capabilities.KubeVersion .Capabilities.KubeVersion }}')).toBe('true true');
  });
  it('include and dict take the copy, which has no GitVersion', async () => {
    expect(await render('{{ define "x" }}{{ . }}{{ end }}{{ include "x" .Capabilities.KubeVersion }}')).toBe('{v1.29.0 1 29}');
    expect(await render('{{ define "y" }}{{ .GitVersion }}{{ end }}{{ include "y" .Capabilities.KubeVersion }}')).toBe(
      `${at('include "y" .Capabilities.KubeVersion', 45)}error calling include: template: c/templates/t.yaml:1:19: executing "y" at <.GitVersion>: can't evaluate field GitVersion in type chartutil.KubeVersion`,
    );
    expect(await render('{{ $d := dict "kv" .Capabilities.KubeVersion }}{{ $d.kv.GitVersion }}')).toBe(
      `${at('$d.kv.GitVersion', 52)}can't evaluate field GitVersion in type interface {}`,
    );
    // {{ template }} is no function: its dot stays addressable
    expect(await render('{{ define "y" }}{{ .GitVersion }}{{ end }}{{ template "y" .Capabilities.KubeVersion }}')).toBe('v1.29.0');
  });
  it('its methods are no JSON fields; a method given arguments is a wrong count', async () => {
    expect(await render('{{ .Capabilities.KubeVersion | toJson }} {{ .Capabilities.KubeVersion | toYaml | replace "\\n" ";" }}')).toBe(
      '{"Version":"v1.29.0","Major":"1","Minor":"29"} Major: "1";Minor: "29";Version: v1.29.0',
    );
    expect(await render('{{ .Capabilities.KubeVersion.GitVersion "x" }}')).toBe(`${at('.Capabilities.KubeVersion.GitVersion', 16)}wrong number of args for GitVersion: want 0 got 1`);
  });
});

describe('.Capabilities is a pointer, HelmVersion a version.BuildInfo', () => {
  it('typeOf, kindOf and kindIs', async () => {
    expect(await render('{{ typeOf .Capabilities }} {{ kindOf .Capabilities }} {{ kindIs "ptr" .Capabilities }} {{ typeOf .Capabilities.HelmVersion }} {{ kindOf .Capabilities.KubeVersion }} {{ typeIs "chartutil.KubeVersion" .Capabilities.KubeVersion }}')).toBe(
      '*chartutil.Capabilities ptr true version.BuildInfo struct true',
    );
  });
  it('printf prints &{…} with KubeVersion as its fields; an action prints the struct', async () => {
    const out = await render('{{ printf "%v" .Capabilities }}|{{ .Capabilities }}');
    const [p, a] = out.split('|');
    expect(p.startsWith('&{{v1.29.0 1 29} [v1 ')).toBe(true);
    expect(a.startsWith('{{v1.29.0 1 29} [v1 ')).toBe(true);
    expect(p.endsWith('] {v3.14.4 81c902a123462fd4052bc5e9aa9c513c4c8fc142 clean go1.21.9}}')).toBe(true);
  });
  it('BuildInfo marshals with its json tags', async () => {
    expect(await render('{{ .Capabilities.HelmVersion | toJson }}')).toBe(
      '{"version":"v3.14.4","git_commit":"81c902a123462fd4052bc5e9aa9c513c4c8fc142","git_tree_state":"clean","go_version":"go1.21.9"}',
    );
    expect(await render('{{ semverCompare ">=3.10.0" .Capabilities.HelmVersion.Version }}')).toBe('true');
  });
});

describe('.Capabilities.APIVersions.Has is a Go method: one string argument', () => {
  it('an exact match of a group/version, never a resource', async () => {
    expect(await render('{{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" }} {{ .Capabilities.APIVersions.Has "policy/v1" }}')).toBe(
      'true false true',
    );
  });
  it('refuses a number, an unset value and a missing argument, as helm template does', async () => {
    expect(await render('{{ .Capabilities.APIVersions.Has 1 }}')).toBe(`${at('1', 33)}expected string; found 1`);
    expect(await render('{{ .Capabilities.APIVersions.Has .Values.missing }}')).toBe(`${at('.Values.missing', 40)}wrong type for value; expected string; got interface {}`);
    expect(await render('{{ .Capabilities.APIVersions.Has }}')).toBe(`${at('.Capabilities.APIVersions.Has', 16)}wrong number of args for Has: want 1 got 0`);
    expect(await render('{{ call .Capabilities.APIVersions.Has "apps/v1" }}')).toBe(`${at('.Capabilities.APIVersions.Has', 21)}wrong number of args for Has: want 1 got 0`);
    expect(await render('{{ .Files.Get 3 }}')).toBe(`${at('3', 14)}expected string; found 3`);
  });
});
