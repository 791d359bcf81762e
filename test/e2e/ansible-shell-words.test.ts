import { describe, expect, it } from 'vitest';
import { auditedRepo } from '../support/audit-repo.js';
import { NESTED_SITE_TARGET } from '../support/offline-lock.js';
import { shellWords } from '../../src/audit/ansible.js';

/**
 * An Ansible `shell:`/`command:` whose URL holds a variable the scan cannot fill in is reported
 * whole, host unknown: `curl https://{{ mirror_host }}/install.sh` was cut at the space inside the
 * braces and reported as the URL `https://{{`.
 */
const FILES: Record<string, string> = {
  'ansible/site.yml': [
    '- hosts: all', // 1
    '  tasks:',
    '    - ansible.builtin.shell: curl -fsSL https://{{ mirror_host }}/install.sh | sh',
    '',
  ].join('\n'),
};
const MANIFEST = 'apiVersion: ferry/v1alpha1\nkind: Manifest\nmetadata: { name: site }\nimages: []\n';
const repo = auditedRepo('ferry-ansible-shell-words-', FILES, MANIFEST, NESTED_SITE_TARGET);

describe('a command URL with a variable inside braces', () => {
  it('is one URL, host unknown, not cut at the space inside the braces', () => {
    const found = repo.at('repo/ansible/site.yml', 3);
    expect(found.map((f) => f.value)).toContain('https://{{ mirror_host }}/install.sh');
    expect(found.map((f) => f.value)).not.toContain('https://{{');
    expect(found.find((f) => f.value === 'https://{{ mirror_host }}/install.sh')?.host).toBe('unknown');
  });

  it('shellWords keeps braces whole and is linear on an unclosed brace', () => {
    expect(shellWords('curl -fsSL https://{{ a }}/x|sh; echo {{ b c }}')).toEqual(['curl', '-fsSL', 'https://{{ a }}/x', 'sh', 'echo', '{{ b c }}']);
    expect(shellWords(`x {{ ${'y '.repeat(100_000)}`)).toHaveLength(2);
  });
});
