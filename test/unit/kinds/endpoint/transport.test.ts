import { describe, expect, it } from 'vitest';
import { transportFromProtocol } from '../../../../src/kinds/endpoint/spec.js';

describe("a connection's transport from its protocol, when the manifest gives none", () => {
  it('reads UDP protocols as udp, DNS and TCP/UDP as both, ICMP as icmp, anything else as tcp', () => {
    const cases: Array<[string, string]> = [
      ['VXLAN', 'udp'],
      ['WireGuard', 'udp'],
      ['NTP', 'udp'],
      ['IPMI', 'udp'],
      ['IPMI (RMCP+)', 'udp'],
      ['DNS', 'tcp+udp'],
      ['TCP/UDP', 'tcp+udp'],
      ['ICMP', 'icmp'],
      ['HTTPS', 'tcp'],
      ['NATS + TLS', 'tcp'],
      ['gRPC', 'tcp'],
      ['SSH', 'tcp'],
    ];
    expect(cases.map(([p]) => [p, transportFromProtocol(p)])).toEqual(cases);
  });
});
