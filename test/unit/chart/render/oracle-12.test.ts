import { describe, expect, it } from 'vitest';
import { run } from './run-template.js';

// Twelfth pass of real charts against the independent Go renderer (Percona's helm charts, Strimzi,
// cert-manager with trust-manager, approver-policy and csi-driver, external-secrets, ingress-nginx,
// Linkerd, Dapr, NATS, Altinity's clickhouse-operator, Istio with its profiles). Each expectation is
// what Go's text/template gives (checked with the oracle, Go 1.19, on this machine).

describe('where a piped value of the wrong type is reported', () => {
  // Percona's gcp-marketplace psmdb-operator: `{{ .Values.operator.image.tag | trunc 5 }}` with no
  // such key. Go checks the piped value after the written arguments (text/template's evalCall
  // validates `final` last), so its error is at the last of them, `at <5>`; ferry said `at <trunc>`.
  it('is at the last written argument, as Go prints that node', () => {
    const data = { Values: { p: 'x' } };
    const at = (t: string) => {
      try {
        run(t, data);
      } catch (e) {
        return /at <(.*)>: invalid value; expected string/.exec((e as Error).message)?.[1];
      }
      return 'rendered';
    };
    expect(at('{{ .Values.m | trunc 5 }}')).toBe('5');
    expect(at('{{ .Values.m | replace "a" "b" }}')).toBe('"b"');
    expect(at('{{ .Values.m | trimPrefix `a` }}')).toBe('`a`');
    expect(at('{{ .Values.m | trimPrefix .Values.p }}')).toBe('.Values.p');
    expect(at('{{ $v := "q" }}{{ .Values.m | trimPrefix $v }}')).toBe('$v');
    expect(at('{{ .Values.m | trimPrefix (print "a") }}')).toBe('"a"');
    expect(at('{{ .Values.m | repeat 2 }}')).toBe('2');
    // No written argument: at the function.
    expect(at('{{ .Values.m | b64enc }}')).toBe('b64enc');
  });
});
