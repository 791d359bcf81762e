import { describe, expect, it } from 'vitest';
import { systemdEnvFileEntries, systemdHostRoot, systemdUnitOf, systemdWords } from '../../../src/audit/systemd.js';

describe('audit/systemd: units, words and environment files as systemd reads them', () => {
  it("systemd.exec(5)'s example: Environment=\"VAR1=word1 word2\" VAR2=word3 \"VAR3=$word 5 6\"; quotes inside a word; C escapes", () => {
    expect(systemdWords('"VAR1=word1 word2" VAR2=word3 "VAR3=$word 5 6"')).toEqual(['VAR1=word1 word2', 'VAR2=word3', 'VAR3=$word 5 6']);
    expect(systemdWords(`A="1 2"'x y' B=a\\tb C=\\x41`)).toEqual(['A=1 2x y', 'B=a\tb', 'C=A']);
  });

  it('continuation lines joined with a space, comment lines inside skipped, a continuation line no key of its own; [Service] only', () => {
    const u = systemdUnitOf('x.service', ['[Unit]', 'Environment=U=1', '[Service]', 'ExecStart=/bin/a \\', '# skipped', '  --x=1 \\', 'Environment=NOT=akey', 'Documentation=https://d.example.com', ''].join('\n'));
    expect(u.entries).toEqual([{ key: 'ExecStart', value: '/bin/a  --x=1  Environment=NOT=akey', line: 4 }]);
    expect(u.rest.split('\n')).toEqual(['[Unit]', 'Environment=U=1', '[Service]', '', '# skipped', '', '', '', '']);
  });

  it('EnvironmentFile syntax: comments, blanks around names and values, quotes over lines, backslashes, invalid names ignored', () => {
    const text = ['# c', '; c', 'A = 1 2  ', 'B="x \\"y\\" \\n', 'z"', "C='a\\b'", 'D=a\\ b\\', 'c', 'export E=1', 'F'].join('\n');
    expect(systemdEnvFileEntries(text)).toEqual([
      { name: 'A', value: '1 2', line: 3 },
      { name: 'B', value: 'x "y" \\n\nz', line: 4 },
      { name: 'C', value: 'a\\b', line: 6 },
      { name: 'D', value: 'a bc', line: 7 },
    ]);
  });

  it("a unit's host root: the part of its path before etc/systemd/ (lib/systemd/, run/systemd/); none elsewhere", () => {
    expect(systemdHostRoot('hosts/a/etc/systemd/system/x.service')).toBe('hosts/a/');
    expect(systemdHostRoot('etc/systemd/system/x.service.d/o.conf')).toBe('');
    expect(systemdHostRoot('usr/lib/systemd/system/x.service')).toBe('');
    expect(systemdHostRoot('deploy/x.service')).toBeUndefined();
  });
});
