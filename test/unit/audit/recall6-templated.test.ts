import { describe, expect, it } from 'vitest';
import { includeVarsCandidates } from '../../../src/audit/ansible-loops.js';
import { templatedImage, templatedScpRemotes, templatesFilled } from '../../../src/audit/unknown-host.js';
import { parseDocument, type YAMLMap } from 'yaml';

describe('recall6: templated image fields and git remotes', () => {
  it.each([
    ['{{ image_ref }}', '{{ image_ref }}'],
    ['{{ registry }}/app:{{ tag }}', '{{ registry }}/app:{{ tag }}'],
    ['$IMAGE', '$IMAGE'],
    ['nginx:1.25', undefined],
    ['${IMAGE}', undefined],
    ['{{ a }} {{ b }}', undefined],
  ])('%s → %s', (value, want) => {
    expect(templatedImage(value)).toBe(want);
  });

  it('finds scp-like remotes with a template host, templates kept whole, and nothing else', () => {
    expect(templatedScpRemotes('git clone git@{{ git host }}:org/x && git clone "git@${H}:o/y.git" git@github.com:o/z.git user@$H:notapath')).toEqual(['git@{{ git host }}:org/x', 'git@${H}:o/y.git']);
  });

  it('reads a crafted line of many candidates in bounded work', { timeout: 20_000 }, () => {
    expect(templatedScpRemotes('a@$x:'.repeat(50_000))).toEqual([]);
    expect(templatedScpRemotes(`git@{{ ${'a'.repeat(5000)} }}:o/x `.repeat(100)).length).toBeLessThanOrEqual(64);
  });

  it('fills templates in so a templated tag leaves the registry readable', () => {
    expect(templatesFilled('nginx:{{ tag }}')).toBe('nginx:x');
    expect(templatesFilled('$REG/app:${TAG}')).toBe('x/app:x');
  });
});

describe('recall6: include_vars candidates', () => {
  const task = (y: string) => parseDocument(y).contents as YAMLMap;
  it('a loop, with_first_found files × paths, a first_found lookup, a loop_var; a plain name is none', () => {
    expect(includeVarsCandidates(task('loop: [a.yml, b.yml]'), '{{ item }}')).toEqual(['a.yml', 'b.yml']);
    expect(includeVarsCandidates(task('with_first_found:\n  - files: [x.yml, y.yml]\n    paths: [p, q/]\n  - z.yml'), '{{ item }}')).toEqual(['p/x.yml', 'q/x.yml', 'p/y.yml', 'q/y.yml', 'z.yml']);
    expect(includeVarsCandidates(task("vars:\n  params:\n    files: 'a.yml,b.yml'\n    paths: 'v:w'"), "{{ lookup('first_found', params) }}")).toEqual(['v/a.yml', 'w/a.yml', 'v/b.yml', 'w/b.yml']);
    expect(includeVarsCandidates(task(`loop: "{{ query('first_found', ['c.yml', 'd.yml'], errors='ignore') }}"`), '{{ item }}')).toEqual(['c.yml', 'd.yml']);
    expect(includeVarsCandidates(task('loop_control: { loop_var: f }\nloop: [e.yml]'), '{{ f }}')).toEqual(['e.yml']);
    expect(includeVarsCandidates(task('loop: [e.yml]'), 'vars/main.yml')).toBeUndefined();
    expect(includeVarsCandidates(task('loop: "{{ files }}"'), '{{ item }}')).toBeUndefined();
  });

  it('reads at most 64 candidates of a crafted loop', () => {
    expect(includeVarsCandidates(task(`loop: [${Array.from({ length: 10_000 }, (_, i) => `f${i}.yml`).join(', ')}]`), '{{ item }}')).toHaveLength(64);
  });
});
