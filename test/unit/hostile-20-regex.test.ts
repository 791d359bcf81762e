/**
 * JavaScript's regex engine backtracks: a pattern like `\{\{-?\s*([\s\S]*?)\s*-?\}\}` is cubic on
 * `{{` and a run of spaces, `<([^>]*)>\s*(.*)$` quadratic on a Link header of `<`. Each pattern
 * that reads data from outside (chart templates and rendered output, registry answers, bundle and
 * lock fields) is now a scan or a pattern without nested backtracking. Each test here hands a
 * crafted input of realistic size to the public function that used the old pattern (vitest's
 * timeout is what fails on the old code: no timing assertion), and each replacement is checked
 * against the old pattern on random inputs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverChartImages, handedArg } from '../../src/kinds/chart/discover.js';
import { blankActions, templateActions } from '../../src/kinds/chart/discover/values.js';
import { imageFlag } from '../../src/kinds/chart/discover/rendered.js';
import { loadChart } from '../../src/kinds/chart/load.js';
import { indexUrlOf } from '../../src/kinds/chart/repo-http.js';
import { parseTemplate } from '../../src/kinds/chart/render/parse.js';
import { goYamlMarshal } from '../../src/kinds/chart/render/goyaml.js';
import { mastermindsRange } from '../../src/kinds/chart/render/sprig.js';
import { hostPathComponent } from '../../src/mapping/index.js';
import { inCidr, ipBytes, trailingQuad } from '../../src/net/cidr.js';
import { HttpClient } from '../../src/net/http.js';
import { RegistryClient } from '../../src/oci/client.js';
import { CredentialStore } from '../../src/oci/credentials.js';
import { linkTarget, nextLink } from '../../src/oci/list.js';
import { trimBoth, trimTrailing } from '../../src/ui/escape.js';
import { writeChart } from './chart/helpers.js';
import { seededStrings } from '../support/random-strings.js';

/** Random strings over an alphabet of pieces that matter to the pattern. */
const randomStrings = seededStrings(20);

/**
 * This project's testTimeout is 120 s; each crafted input below takes milliseconds on the new code
 * and took 13 to 99 s on the old (one run, two CPUs shared by four jobs). A test that blocks the
 * event loop past its timeout fails when it returns (vitest checks the deadline then): 10 s here.
 */
const BOUND = 10_000;

let tmp: string;
let n = 0;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile20-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function chartWith(template: string) {
  const dir = await writeChart(path.join(tmp, `c${n++}`), {
    chart: { name: 'app', version: '1.0.0', appVersion: '2.0.0' },
    values: 'image:\n  repository: acme/app\n  tag: ""\n',
    files: { 'templates/deploy.yaml': template },
  });
  return loadChart(dir);
}

const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  template:
    spec:
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
        args: ["--sidecar-image", "quay.io/acme/side:1.0", "ghcr.io/acme/extra:2.0"]
`;
const refs = (r: { images: Array<{ ref: string; certainty: string }> }) => r.images.map((i) => `${i.certainty} ${i.ref}`).sort();

describe('chart templates: the values walk and the template scan stay linear', () => {
  it('a template of `{{` and 3 500 tabs (cubic in the action scan) is read, and the chart still finds its images', async () => {
    const normal = refs(discoverChartImages(await chartWith(DEPLOY)));
    expect(normal).toEqual(['certain docker.io/acme/app:2.0.0', 'possible ghcr.io/acme/extra:2.0', 'possible quay.io/acme/side:1.0']);
    const crafted = `${DEPLOY}# {{\t${'\t'.repeat(3500)}\n`;
    expect(refs(discoverChartImages(await chartWith(crafted)))).toEqual(normal);
  }, BOUND);

  it('a template line of 100 000 `{{` (quadratic when blanking actions), and `printf "v%s"` before 100 000 spaces', async () => {
    const normal = refs(discoverChartImages(await chartWith(DEPLOY)));
    expect(refs(discoverChartImages(await chartWith(`${DEPLOY}# ${'{{'.repeat(100_000)}\n`)))).toEqual(normal);
    expect(refs(discoverChartImages(await chartWith(`${DEPLOY}# printf "v%s"${' '.repeat(100_000)}x\n`)))).toEqual(normal);
    // the `v` prefix is still seen
    const v = `${DEPLOY.replace('default .Chart.AppVersion', 'default (printf "v%s"   ( .Chart.AppVersion))')}`;
    expect(refs(discoverChartImages(await chartWith(v)))).toContain('certain docker.io/acme/app:v2.0.0');
  }, BOUND);

  it('an arg before an image of 400 000 characters (`-A` and IMAGE…, quadratic as a flag name) is not a flag', () => {
    const crafted = `-A${'IMAGE'.repeat(80_000)}!`;
    expect(handedArg('quay.io/acme/x:1', crafted, 'args')).toEqual({ name: 'args', value: 'quay.io/acme/x:1', prefix: '' });
    expect(handedArg('quay.io/acme/x:1', ' --sidecar-image ', 'args')).toEqual({ name: ' --sidecar-image ', value: 'quay.io/acme/x:1', prefix: '' });
  }, BOUND);

  it('number literals of 100 000 digits in a template are refused as Go refuses them, without quadratic backtracking', () => {
    expect(() => parseTemplate('t', `{{ ${'0'.repeat(100_000)}e }}`)).toThrow(/bad number syntax/);
    expect(() => parseTemplate('t', `{{ 0x${'0'.repeat(100_000)}p }}`)).toThrow(/bad number syntax/);
    // normal literals still parse
    expect(() => parseTemplate('t', '{{ 1.5e3 }}{{ 0x1.8p-3 }}{{ 0x1p4 }}{{ .5 }}{{ 12. }}')).not.toThrow();
  }, BOUND);

  it('a semver constraint of 100 000 spaces before a comma or a line break (semverCompare, Chart.yaml dependencies)', () => {
    expect(mastermindsRange(`${'\t'.repeat(100_000)},>=1.2.3`)).toBe(mastermindsRange('>=1.2.3'));
    expect(() => mastermindsRange(`>=${'\t'.repeat(100_000)}x\ny`)).toThrow(TypeError);
    expect(mastermindsRange('>= 1.2, < 2.0 || ~> v3.1')).toBe('>=1.2.0 <2.0.0 || ~3.1');
  }, BOUND);

  it('toYaml of a string of 200 000 line breaks before a letter (quadratic counting the trailing ones)', () => {
    const s = `${'\n'.repeat(200_000)}x`;
    const out = goYamlMarshal({ a: s });
    expect(out.startsWith('a: |4-\n') || out.startsWith('a: |-\n') || out.startsWith('a: |2-\n')).toBe(true);
    expect(goYamlMarshal({ a: 'x\ny\n\n' })).toBe('a: |+\n  x\n  y\n\n');
  }, BOUND);
});

describe('registry answers, addresses and names', () => {
  let reg: http.Server;
  let host: string;
  const PAGES = 300;
  beforeAll(async () => {
    // a registry whose every tag page carries a Link of 12 000 `<` before the real next link
    reg = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/v2/') return void res.writeHead(200).end('{}');
      const page = Number(u.searchParams.get('p') ?? 0);
      const headers: Record<string, string | string[]> = { 'content-type': 'application/json' };
      if (page + 1 < PAGES) headers.link = ['<'.repeat(14_000), `</v2/team/app/tags/list?p=${page + 1}>; rel="next"`];
      res.writeHead(200, headers).end(JSON.stringify({ name: 'team/app', tags: [`t${page}`] }));
    });
    await new Promise<void>((r) => reg.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(reg.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    reg.closeAllConnections();
    await new Promise((r) => reg.close(r));
  });

  it(`listTags follows ${PAGES} pages whose Link headers carry 14 000 '<' (quadratic each)`, async () => {
    const credentials = new CredentialStore({ env: { HOME: '/nonexistent', DOCKER_CONFIG: '/nonexistent' } });
    const httpClient = new HttpClient({ httpProxy: '', httpsProxy: '', noProxy: '' });
    const client = new RegistryClient({ http: httpClient, credentials, plainHttp: () => true });
    expect(await client.listTags({ registry: host, repository: 'team/app' })).toEqual(Array.from({ length: PAGES }, (_, i) => `t${i}`));
  }, BOUND);

  it('a Link value with a line break after 3 000 `<` and tabs (cubic) finds no next page; normal values do', () => {
    expect(nextLink(`${'<'.repeat(3000)}>${'\t'.repeat(3000)}><>\nx`, 'http://r.test/v2/')).toBeUndefined();
    expect(nextLink('</v2/x/tags/list?last=b>; rel="next"', 'http://r.test/v2/x/tags/list')).toBe('http://r.test/v2/x/tags/list?last=b');
    expect(nextLink(['<a>; rel="prev", <b?c=1>; rel=next'], 'http://r.test/v2/')).toBe('http://r.test/v2/b?c=1');
  }, BOUND);

  it('an IPv6 zone of 200 000 digits (quadratic looking for a dotted quad) is no address in a CIDR', () => {
    expect(inCidr(`fe80::1%${'0'.repeat(200_000)}0`, 'fe80::/10')).toBe(true);
    expect(inCidr(`fe80::1%${'0'.repeat(200_000)}.1.2.3.4`, '10.0.0.0/8')).toBe(false);
    expect(ipBytes('::ffff:10.1.2.3')).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]);
    expect(inCidr('::ffff:10.1.2.3', '::ffff:10.0.0.0/104')).toBe(true);
  }, BOUND);

  it('a registry host of 300 000 `.-` between letters (quadratic trimming) maps to a path component', () => {
    const crafted = `a${'.-'.repeat(150_000)}b`;
    expect(hostPathComponent(crafted)).toBe(crafted);
    expect(hostPathComponent('[::1]:5000')).toBe('1-5000');
    expect(hostPathComponent('Registry.Example.com:443')).toBe('registry.example.com-443');
  }, BOUND);

  it('a chart repository URL with 400 000 slashes before its last byte (quadratic as /\\/+$/): its index URL', () => {
    const s = `https://charts.test/${'/'.repeat(400_000)}x/`;
    expect(indexUrlOf(s)).toBe(`${s.slice(0, -1)}/index.yaml`);
    expect(indexUrlOf('https://charts.example.com///')).toBe('https://charts.example.com/index.yaml');
  }, BOUND);
});

describe('each replacement matches as the old pattern did', () => {
  const OLD_ACTION = /\{\{-?\s*([\s\S]*?)\s*-?\}\}/g;
  const OLD_BLANK = /\{\{.*?\}\}/g;
  it('template actions and blanked lines, on 30 000 random texts', () => {
    for (const s of randomStrings(['{{', '}}', '{', '}', '-', ' ', '\t', '\n', '\r', '\u2028', 'a', '/*', '- '], 30_000, 14)) {
      expect(templateActions(s), JSON.stringify(s)).toEqual([...s.matchAll(OLD_ACTION)].map((m) => ({ at: m.index, body: m[1] })));
      expect(blankActions(s), JSON.stringify(s)).toBe(s.replace(OLD_BLANK, ' '));
    }
  });

  it('Link values, on 30 000 random values', () => {
    for (const s of randomStrings(['<', '>', ' ', '\t', '\n', '\r', '\u2028', 'a', ';', 'rel="next"', ','], 30_000, 12)) {
      const m = /<([^>]*)>\s*(.*)$/.exec(s);
      expect(linkTarget(s), JSON.stringify(s)).toEqual(m ? { url: m[1], params: m[2] } : undefined);
    }
  });

  it('image flags, dotted quads and trims, on 30 000 random strings each', () => {
    for (const s of randomStrings(['-', '--', 'image', 'IMAGE', 'Im', 'age', '.', '_', 'x', ' ', '=', 'ı', 'ſ'], 30_000, 8)) {
      expect(imageFlag(s), JSON.stringify(s)).toBe(/^--?[\w.-]*image[\w.-]*$/i.test(s));
    }
    for (const s of randomStrings(['1', '23', '.', ':', 'f', '%', '٣'], 30_000, 14)) {
      const m = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
      expect(trailingQuad(s), JSON.stringify(s)).toEqual(m ? { index: m.index, parts: m.slice(1, 5) } : undefined);
    }
    for (const s of randomStrings(['/', '-', '.', 'a', '\n', ' '], 30_000, 10)) {
      expect(trimTrailing(s, '/')).toBe(s.replace(/\/+$/, ''));
      expect(trimTrailing(s, '\n').length).toBe(s.length - s.match(/\n*$/)![0].length);
      expect(trimBoth(s, '-.')).toBe(s.replace(/^[-.]+|[-.]+$/g, ''));
      expect(trimBoth(s, '/')).toBe(s.replace(/^\/+|\/+$/g, ''));
      const dir = s.slice(0, s.lastIndexOf('/') + 1);
      expect(dir).toBe(s.replace(/[^/]*$/, ''));
      expect(dir).toBe(s.replace(/[^/]+$/, ''));
    }
  });

  // The private patterns, old and new text side by side (parse.ts's numbers, sprig.ts's constraints, values.ts's printf).
  it('number literals, semver constraints and the printf "v%s" test, on 30 000 random strings each', () => {
    const pairs: Array<[RegExp, RegExp, string[]]> = [
      [/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/, ['0', '12', '.', 'e', 'E', '+', '-', 'x']],
      [/printf\s+"v%s"\s+\(?\s*\.Chart\.AppVersion/, /printf\s+"v%s"\s+(?:\(\s*)?\.Chart\.AppVersion/, ['printf', ' "v%s"', ' ', '\t', '\n', '(', '.Chart.AppVersion', '((', 'x']],
    ];
    for (const [old, now, alphabet] of pairs) {
      for (const s of randomStrings(alphabet, 30_000, 10)) expect(now.test(s), `${old} ${JSON.stringify(s)}`).toBe(old.test(s));
    }
    const oldHex = /^([+-]?)0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?\d+)$/;
    const newHex = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/;
    for (const s of randomStrings(['0x', '0X', '1', 'f', '.', 'p', 'P', '-', '3'], 30_000, 8)) {
      const o = oldHex.exec(s);
      const m = newHex.exec(s);
      expect(m && [m[1], m[2], m[3] ?? '', m[4]], JSON.stringify(s)).toEqual(o && [o[1], o[2], o[3], o[4]]);
    }
    const oldC = /^(!=|>=|<=|=>|=<|>|<|=|~>|~|\^)?\s*v?(.*)$/;
    const newC = /^(!=|>=|<=|=>|=<|>|<|=|~>|~|\^)?(?=(\s*))\2v?(.*)$/;
    const oldSplit = /,|\s+(?=[<>=~^!])/;
    const newSplit = /,|(?<!\s)\s+(?=[<>=~^!])/;
    for (const s of randomStrings(['>', '=', '<', '!', '~', '^', ' ', '\t', '\n', 'v', '1', '.', ',', '|'], 30_000, 10)) {
      const o = oldC.exec(s);
      const m = newC.exec(s);
      expect(m && [m[1], m[3]], JSON.stringify(s)).toEqual(o && [o[1], o[2]]);
      expect(s.split(newSplit), JSON.stringify(s)).toEqual(s.split(oldSplit));
    }
  });
});
