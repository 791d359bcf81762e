/**
 * The rest of the super-linear regular expressions (after hostile-20): those that read every line
 * of every file audit scans (a GitOps repository is outside data), a chart's error message, the
 * APT index paths of a bundle, a TLS error's names, a certs.d file, and names and lines the user
 * hands to the firewall and apt-sources rewriters. Each is now a scan or a pattern whose runs
 * cannot be split or given back. Each test drives the public function with a crafted input of
 * realistic size (vitest's per-test timeout is what fails on the old code: no timing assertion),
 * and each replacement is checked against the old pattern on random inputs.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sName } from '../../src/audit/firewall/k8s.js';
import { parseProxy, setId } from '../../src/audit/firewall/ruleset.js';
import { DEB822_FIELD, DEB_LINE, bareImageLine, scanFileText, withBuildArgs, type FileType, type Reference, type Setting } from '../../src/audit/scan.js';
import { binaryArch, buildRelease, compressedVariants } from '../../src/kinds/apt/publish.js';
import { loadChart } from '../../src/kinds/chart/load.js';
import { helmErrMessage } from '../../src/kinds/chart/render/helm.js';
import { renderChart } from '../../src/kinds/chart/render/index.js';
import { loadHostTls, pemCerts } from '../../src/net/certs-d.js';
import { pemCertificates } from '../../src/kinds/image/keyless.js';
import { mapTransportError } from '../../src/net/http.js';
import { rewriteAptSources } from '../../src/rewrite/apt-sources.js';
import { cutLastLineFrom, lastLineStart } from '../../src/ui/escape.js';
import { writeChart } from './chart/helpers.js';
import { fixtureContext, scratch, write } from './rewrite/helpers.js';
import { seededStrings } from '../support/random-strings.js';

/** Random strings over an alphabet of pieces that matter to the pattern. */
const randomStrings = seededStrings(21);

/**
 * This project's testTimeout is 120 s; each crafted input below takes milliseconds on the new code
 * and 13 s or more on the old (measured: the deb line 39 s, the others 15-30 s, two CPUs shared).
 * A test that blocks the event loop past its timeout fails when it returns: 10 s here.
 */
const BOUND = 10_000;
/** Line breaks as `.` sees them (a file split on `\n` still has the others inside a line). */
const BREAKS = ['\r', '\u2028', '\u2029'];

function scan(file: string, type: FileType, text: string): { refs: Reference[]; settings: Setting[] } {
  const refs: Reference[] = [];
  const settings: Setting[] = [];
  scanFileText(file, type, text, refs, settings);
  return { refs, settings };
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile21-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('hostile-21: audit reads every line of a scanned repository in linear time', () => {
  it('a sources.list line of 4 000 spaces then a word and a CR (the deb pattern was cubic: 39 s)', () => {
    const line = `deb http://deb.debian.org/debian${' '.repeat(4000)}bookworm main\rx`;
    const { refs } = scan('etc/apt/sources.list', 'apt-list', `${line}\ndeb http://deb.debian.org/debian bookworm main contrib # c\n`);
    expect(refs).toEqual([{ file: 'etc/apt/sources.list', line: 2, kind: 'apt', value: 'http://deb.debian.org/debian', apt: { types: ['deb'], suites: ['bookworm'], components: ['main', 'contrib'] } }]);
  }, BOUND);

  it('a sources.list line of 100 000 # and a CR (the comment cut was quadratic)', () => {
    // `.` stops at the CR: only the last `#` starts the comment, the others are a component.
    const { refs } = scan('etc/apt/sources.list', 'apt-list', `deb [arch=amd64] http://a.example/x y z ${'#'.repeat(100_000)}\r#\n`);
    expect(refs.map((r) => [r.value, r.apt?.suites, r.apt?.components.map((c) => c.length)])).toEqual([['http://a.example/x', ['y'], [1, 100_000]]]);
  }, BOUND);

  it('a .sources field of 120 000 tabs then a CR (the field pattern was quadratic)', () => {
    const { refs } = scan('etc/apt/sources.list.d/a.sources', 'apt-sources', `Types: deb\nURIs:${'\t'.repeat(120_000)}-\r-\nSuites: a\n\nURIs: http://b.example/\n`);
    expect(refs.map((r) => r.value)).toEqual(['http://b.example/']);
  }, BOUND);

  it('a Dockerfile FROM of 40 000 unclosed ${A- (the build-argument pattern was quadratic)', () => {
    const { refs } = scan('Dockerfile', 'text', `ARG A=x\nFROM ${'${A-'.repeat(40_000)}$A\nFROM \${REG:-docker.io}/library/nginx:1.25\n`);
    expect(refs.filter((r) => r.kind === 'image').map((r) => [r.line, r.value])).toEqual([[2, `${'${A-'.repeat(40_000)}$A`], [3, 'docker.io/library/nginx:1.25']]);
  }, BOUND);

  it('a template line `image: a` and 80 000 # then a CR (the bare-image pattern was quadratic)', () => {
    const { refs } = scan('chart/templates/d.yaml', 'yaml', `{{ if .x }}\nimage: a${'#'.repeat(80_000)}\rg\n  - image: busybox # pinned\n`);
    expect(refs.filter((r) => r.kind === 'image').map((r) => [r.line, r.value])).toEqual([[3, 'busybox']]);
  }, BOUND);

  it('the deb line pattern matches as the old one did', () => {
    const OLD = /^(deb(?:-src)?)\s+(?:\[[^\]]*\]\s+)?(\S+)\s*(\S+)?\s*(.*)$/;
    for (const s of randomStrings([' ', '\t', ...BREAKS, '[', ']', 'a', 'b', '-src', 'x=y', '#'], 20_000)) {
      for (const line of [`deb${s}`, `deb ${s}`, `deb-src ${s}`, `deb [${s}`]) expect(DEB_LINE.exec(line)?.slice(0), JSON.stringify(line)).toEqual(OLD.exec(line)?.slice(0));
    }
  });

  it('the deb822 field pattern matches as the old one did', () => {
    const OLD = /^([A-Za-z0-9-]+):\s*(.*)$/;
    for (const s of randomStrings([' ', '\t', ...BREAKS, ':', '-', 'a', 'B', '#'], 20_000)) expect(DEB822_FIELD.exec(s)?.slice(0), JSON.stringify(s)).toEqual(OLD.exec(s)?.slice(0));
  });

  it('build arguments are replaced as the old pattern did', () => {
    const OLD = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;
    const args = new Map([['A', 'alpine'], ['B', '']]);
    const old = (t: string) => t.replace(OLD, (all, a: string | undefined, d: string | undefined, b: string | undefined) => args.get((a ?? b)!) || d || all);
    for (const s of randomStrings(['$', '{', '}', 'A', 'B', 'C', '_', ':', '-', 'x', '/'], 30_000, 20)) expect(withBuildArgs(s, args), JSON.stringify(s)).toBe(old(s));
  });

  it('a bare image line is recognised as the old pattern did', () => {
    const OLD = /^\s*(?:-\s+)?image:\s*\S+\s*(?:#.*)?$/;
    for (const s of randomStrings([' ', '\t', ...BREAKS, '#', 'a', 'b', ':', '-'], 30_000)) {
      for (const line of [`image:${s}`, `  - image: ${s}`, `image: a${s}`, s]) expect(bareImageLine(line), JSON.stringify(line)).toBe(OLD.test(line));
    }
  });

  it('a comment is cut as /#.*$/ cut it', () => {
    for (const s of randomStrings(['#', '/', 'a', ' ', '\n', ...BREAKS], 20_000)) {
      expect(cutLastLineFrom(s, '#'), JSON.stringify(s)).toBe(s.replace(/#.*$/, ''));
      expect(cutLastLineFrom(s, '/'), JSON.stringify(s)).toBe(s.replace(/\/.*$/, ''));
      expect(s.slice(lastLineStart(s))).toBe(/[^\n\r\u2028\u2029]*$/.exec(s)![0]);
    }
  });
});

describe('hostile-21: a chart, a bundle and a server', () => {
  it('a chart whose error names 20 000 HELM_ERR_START (the message pattern was quadratic)', async () => {
    const dir = await writeChart(path.join(tmp, 'helm'), {
      chart: { name: 'app', version: '1.0.0' },
      values: '',
      files: { 'templates/a.yaml': `{{ include "${'ELM_ERR_ENDHELM_ERR_START'.repeat(20_000)}ELM_ERR_END" . }}\n` },
    });
    const chart = await loadChart(dir, { allFiles: true });
    expect(() => renderChart(chart)).toThrow(/HELM_ERR_START/);
  }, BOUND);

  it('a fail message is still reported as helm does', async () => {
    const dir = await writeChart(path.join(tmp, 'fail'), { chart: { name: 'app', version: '1.0.0' }, values: '', files: { 'templates/a.yaml': '{{ fail "no: HELM_ERR_END here" }}\n' } });
    const chart = await loadChart(dir, { allFiles: true });
    expect(() => renderChart(chart)).toThrow(/execution error at \(app\/templates\/a\.yaml:1:3\): no: HELM_ERR_END here$/);
  });

  it('the helm message is found as the old pattern found it', () => {
    const OLD = /HELM_ERR_START([\s\S]*)HELM_ERR_END/;
    for (const s of randomStrings(['HELM_ERR_START', 'HELM_ERR_END', 'HELM_ERR_', 'START', 'END', 'x', '\n'], 20_000)) expect(helmErrMessage(s), JSON.stringify(s)).toBe(OLD.exec(s)?.[1]);
  });

  it('a bundle index path of 40 000 binary-b (the architecture pattern was quadratic)', () => {
    const cfg = { suite: 'stable', components: ['main'], architectures: ['amd64'], acquireByHash: true };
    const idx = [...compressedVariants('main/binary-arm64/Packages', Buffer.from('')), { path: 'binary-b'.repeat(40_000), bytes: Buffer.from('') }];
    expect(buildRelease(cfg, idx, 'filtered')).toMatch(/^Architectures: amd64 arm64$/m);
  }, BOUND);

  it('the architecture is found as the old pattern found it', () => {
    const OLD = /binary-([a-z0-9-]+)\//;
    for (const s of randomStrings(['binary-', 'binary', 'b', '-', '/', 'A', 'amd64'], 30_000)) expect(binaryArch(s), JSON.stringify(s)).toBe(OLD.exec(s)?.[1]);
  });

  it('a TLS name-mismatch reason of 30 000 "altnames: " and a line break (the pattern was quadratic)', () => {
    const err = Object.assign(new Error('fetch failed'), { cause: Object.assign(new Error('mismatch'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID', reason: `${'altnames: '.repeat(30_000)}\n` }) });
    expect(mapTransportError(err, 'GET', 'https://r.example/v2/').message).toBe('r.example: the certificate is for other names, not r.example');
  }, BOUND);

  it('the certificate names are read from the reason as the old pattern read them', () => {
    for (const s of randomStrings(['altnames: ', 'altnames:', 'DNS:a', 'IP Address:1', ', ', '\n', '\r', 'x'], 10_000)) {
      const err = Object.assign(new Error('x'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID', reason: s });
      const m = /altnames: (.*)$/.exec(s);
      const names = m ? m[1].split(/,\s*/).map((n) => n.replace(/^(DNS|IP Address):/, '')) : [];
      expect(mapTransportError(err, 'GET', 'https://r.example/').message, JSON.stringify(s)).toBe(`r.example: the certificate is for ${names.length ? names.join(', ') : 'other names'}, not r.example`);
    }
  });

  it('a certs.d CA file of 1 MB of BEGIN CERTIFICATE without an END (the PEM pattern was quadratic)', async () => {
    const dir = path.join(tmp, 'certs.d', 'h.example:5000');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----'.repeat(38_000));
    await expect(loadHostTls('h.example', '5000', { roots: [path.join(tmp, 'certs.d')] })).rejects.toThrow(/ca\.crt: no PEM certificate found/);
  }, BOUND);

  it("a keyless signature's chain annotation of 1 MB of BEGIN CERTIFICATE without an END (the same PEM pattern)", () => {
    expect(pemCertificates('-----BEGIN CERTIFICATE-----'.repeat(38_000))).toEqual([]);
  }, BOUND);

  it('the PEM blocks are found as the old pattern found them', () => {
    const OLD = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
    for (const s of randomStrings(['-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', '-----', 'A', '\n'], 20_000)) expect(pemCerts(s), JSON.stringify(s)).toEqual(s.match(OLD));
  });
});

describe('hostile-21: names and lines the user hands over', () => {
  it('a zone name with 100 000 dashes inside (the trim pattern was quadratic)', () => {
    expect(k8sName(`a${'-'.repeat(100_000)}b`)).toBe(`a${'-'.repeat(62)}`);
  }, BOUND);

  it('a proxy of 100 000 slashes and a line break (the path cut was quadratic)', () => {
    expect(parseProxy(`proxy.example:3129${'/'.repeat(100_000)}\n/`)).toBeUndefined();
    expect(parseProxy('http://proxy.example:3129/x')).toEqual({ host: 'proxy.example', port: 3129 });
  }, BOUND);

  it('firewall names are made as the old patterns made them', () => {
    for (const s of randomStrings(['-', '_', 'a', 'B', '!', ' ', '0'], 20_000)) {
      expect(k8sName(s)).toBe(s.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63));
      expect(setId('host', s)).toBe(`host_${s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '')}`);
    }
  });

  it('rewrite apt-sources: a line of 100 000 # and a CR (the comment cut was quadratic)', async () => {
    const dir = await scratch();
    const f = await write(dir, 'x.list', `deb http://deb.debian.org/debian bookworm main ${'#'.repeat(100_000)}\r#\n`);
    const result = await rewriteAptSources([f], await fixtureContext(), {});
    expect(result.files.length).toBe(1);
  }, BOUND);
});
