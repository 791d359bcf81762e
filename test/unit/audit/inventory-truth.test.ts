import { describe, expect, it } from 'vitest';
import { buildConnectionModel, flowsOf } from '../../../src/audit/model.js';
import { buildInventory, renderInventoryMarkdown } from '../../../src/audit/inventory.js';
import { validateManifest } from '../../../src/kinds/schema.js';

const loaded = (raw: unknown) => ({ manifest: validateManifest(raw, 'inline'), file: 'inline.yaml', dir: '.', digest: 'sha256:x' });
const manifest = (zones: unknown[], endpoints: unknown[], connections: unknown[] = []) =>
  loaded({ apiVersion: 'ferry/v1alpha1', kind: 'Manifest', metadata: { name: 'm' }, zones, endpoints, connections });
const ep = (name: string, extra: Record<string, unknown> = {}) => ({ name, category: 'license', hosts: [`${name}.example.com`], from: 'app', purpose: 'p', mitigation: { type: 'none' }, ...extra });

describe('inventory: destination zones', () => {
  it('an endpoint without `to` goes to the internet zone, never the first external zone in list order', () => {
    const model = buildConnectionModel(manifest([{ name: 'app' }, { name: 'browser', external: true }, { name: 'internet', external: true }], [ep('lic'), ep('ui', { side: 'browser', from: 'browser' })]));
    expect(flowsOf(model).map((f) => `${f.name} ${f.from}→${f.to}`)).toEqual(['lic app→internet', 'ui browser→internet']);
  });

  it('without an internet zone, an endpoint still lives on the internet, not in the only external zone', () => {
    const model = buildConnectionModel(manifest([{ name: 'app' }, { name: 'browser', external: true }], [ep('lic')]));
    expect(flowsOf(model).map((f) => `${f.from}→${f.to}`)).toEqual(['app→internet']);
  });
});

describe('inventory: security properties', () => {
  it('unknown is ?, HTTPS/TLS gives C and I from the scheme, an explicit false stays blank (no)', () => {
    const model = buildConnectionModel(
      manifest(
        [{ name: 'app' }, { name: 'internet', external: true }],
        [ep('https-ep'), ep('smtp-ep', { protocol: 'SMTP', ports: [25] }), ep('plain', { protocol: 'HTTP', ports: [80], security: { encrypted: false, integrity: false, authenticated: false } })],
        [{ name: 'nats', from: 'app', to: 'app', direction: 'internal', scope: 'cluster', protocol: 'NATS + TLS', ports: [4222], purpose: 'p' }],
      ),
    );
    const inv = buildInventory(model);
    const row = (n: string) => inv.matrix.find((r) => r.name === n)!;
    expect([row('https-ep').c, row('https-ep').i, row('https-ep').auth, row('https-ep').trust]).toEqual(['x', 'x', '?', '?']);
    expect([row('smtp-ep').c, row('smtp-ep').i, row('smtp-ep').auth]).toEqual(['?', '?', '?']);
    expect([row('plain').c, row('plain').i, row('plain').auth, row('plain').trust]).toEqual(['', '', '', '?']);
    expect([row('nats').c, row('nats').i]).toEqual(['x', 'x']);
    expect(renderInventoryMarkdown(inv)).toContain('x = yes, ? = unknown, blank = no');
  });
});
