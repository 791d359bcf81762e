import { describe, expect, it } from 'vitest';
import { webContexts, webFactsOf, type WebFacts } from '../../../src/audit/web-includes.js';

/** The files as a scan gives them to webContexts: each file's facts, and every path. */
function contextsOf(files: Record<string, string>) {
  const facts = new Map<string, WebFacts>();
  for (const [rel, text] of Object.entries(files)) {
    const f = webFactsOf(text, rel);
    if (f) facts.set(rel, f);
  }
  return webContexts(facts, Object.keys(files));
}

const mapOf = (n: string) => `map $host $u${n} { default http://h${n}.example; }\n`;

/**
 * hostile59: an include's wildcards were a backtracking RegExp (`*a*a…*b` beside a long name did
 * not end: e2e hostile59-audit). The matcher that replaced it keeps the shell's meaning.
 */
describe('hostile59: include wildcards matched without a RegExp', () => {
  it('a pattern of * runs matches what the shell would', () => {
    const pattern = `${'*a'.repeat(3)}*b`;
    const { contexts, problems } = contextsOf({
      'nginx/nginx.conf': `http {\n  include conf.d/${pattern};\n}\n`,
      [`nginx/conf.d/${'a'.repeat(20)}`]: mapOf('1'),
      [`nginx/conf.d/${'xa'.repeat(3)}b`]: mapOf('2'),
      [`nginx/conf.d/${'a'.repeat(2)}b`]: mapOf('3'),
    });
    expect(problems).toEqual([]);
    // Only the name with three `a` before its `b` is joined: its map is the main file's context.
    expect(contexts.get('nginx/nginx.conf')?.maps.map((m) => m.name)).toEqual(['u2']);
  });

  it('?, [set], [!set] and ranges keep their meaning', () => {
    const { contexts } = contextsOf({
      'nginx/nginx.conf': 'include conf.d/a?[0-4][!x]*.conf;\n',
      'nginx/conf.d/ab3y-1.conf': mapOf('1'),
      'nginx/conf.d/ab5y.conf': mapOf('2'),
      'nginx/conf.d/ab3x.conf': mapOf('3'),
      'nginx/conf.d/a3y.conf': mapOf('4'),
      'nginx/conf.d/zz0y.conf': mapOf('5'),
      'nginx/conf.d/ac0q.conf': mapOf('6'),
    });
    expect(contexts.get('nginx/nginx.conf')?.maps.map((m) => m.name).sort()).toEqual(['u1', 'u6']);
  });
});
