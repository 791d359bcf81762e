import { csvField, mdTable } from './inventory.js';
import { FINDING_CLASSES, type AuditReport } from './audit.js';

/** Human renderers for `ferry audit`; JSON is the report itself. Deterministic: no timestamps. */
export function renderAuditMarkdown(r: AuditReport): string {
  const out: string[] = [`# Audit: ${r.manifest}`, ''];
  if (r.target) out.push(`Mirror target: ${r.target}`, '');
  out.push(`${r.files} file(s) scanned, ${r.findings.length} reference(s) found.`, '');
  out.push(`Result: ${auditResult(r)}`, '');
  out.push('## Summary', '');
  out.push(mdTable(['Class', 'References'], [...FINDING_CLASSES.map((c) => [c, String(r.summary[c])]), ['unmet mitigations', String(r.summary.unmetMitigations)], ['unmet connection checks', String(r.summary.unmetConnectionChecks)], ['charts not rendered', String(r.summary.unrenderedCharts)], ['files not scanned', String(r.summary.unscannedFiles)]]), '');
  out.push('## References', '');
  out.push(
    mdTable(
      ['Location', 'Key', 'Kind', 'Reference', 'Class', 'Declared by', 'Mirror', 'Note'],
      r.findings.map((f) => [f.provenance ?? `${f.file}:${f.line}`, f.keyPath, f.kind, f.value, f.class, f.declaredBy ?? '', f.mirror ?? '', (f.provenance ? f.note?.slice(f.provenance.length).replace(/^; /, '') : f.note) ?? '']),
    ),
    '',
  );
  if (r.charts.length) {
    out.push('## Charts rendered with scanned values', '');
    out.push(mdTable(['Chart', 'Version', 'Values files', 'Status', 'Images', 'Reason'], r.charts.map((c) => [c.chart, c.version ?? '', c.values.join(', '), c.status, String(c.images), c.reason ?? ''])), '');
    // The images above were found under what the render assumed (the Kubernetes version, skipped values).
    const warned = r.charts.flatMap((c) => (c.warnings ?? []).map((w) => [c.chart, c.version ?? '', c.values.join(', '), w]));
    if (warned.length) out.push('### Render warnings', '', mdTable(['Chart', 'Version', 'Values files', 'Warning'], warned), '');
  }
  if (r.skipped.length) {
    out.push('## Files not scanned', '');
    out.push(mdTable(['File', 'Reason', 'Unaudited'], r.skipped.map((s) => [s.file, s.reason, s.unscanned ? 'yes' : ''])), '');
  }
  out.push('## Mitigations', '');
  out.push(mdTable(['Endpoint', 'Mitigation', 'Requirement', 'Status', 'Referenced'], r.mitigations.map((m) => [m.title, m.type, m.requirement, m.status, String(m.referenced)])), '');
  out.push('## Checks', '');
  out.push(mdTable(['Subject', 'Name', 'Check', 'Status', 'Evidence'], r.checks.map((c) => [c.subject, c.endpoint, c.check, c.status, c.evidence])), '');
  return out.join('\n');
}

/**
 * The verdict in words, against both bars whether or not --fail-on was given: without it the run
 * exits 0, which says nothing about the findings (a reviewer must not read it as a pass).
 */
export function auditResult(r: AuditReport): string {
  const s = r.summary;
  const count = (n: number, what: string) => (n ? [`${n} ${what}`] : []);
  const why = (bar: 'unmapped' | 'unmitigated') =>
    [
      ...count(s.undeclared, 'undeclared'),
      ...count(s.unrenderedCharts, `chart${s.unrenderedCharts === 1 ? '' : 's'} not rendered`),
      ...count(s.unscannedFiles, `file${s.unscannedFiles === 1 ? '' : 's'} not scanned`),
      ...(bar === 'unmitigated' ? [...count(s['declared-unmitigated'], 'declared-unmitigated'), ...count(s.unmetMitigations, `unmet mitigation${s.unmetMitigations === 1 ? '' : 's'}`), ...count(s.unmetConnectionChecks, `unmet connection check${s.unmetConnectionChecks === 1 ? '' : 's'}`)] : []),
    ].join(', ');
  const bar = (b: 'unmapped' | 'unmitigated') => `--fail-on ${b} ${r.wouldFail[b] ? `fails (${why(b)})` : 'passes'}`;
  const given = r.failOn ? `--fail-on ${r.failOn} given: ${r.failed ? 'FAILED' : 'passed'}.` : 'no --fail-on given: the exit code does not reflect the findings.';
  return `${given} ${bar('unmapped')}; ${bar('unmitigated')}.`;
}

export function renderAuditCsv(r: AuditReport): string {
  const lines = ['file,line,key_path,kind,reference,host,class,declared_by,mirror,note'];
  for (const f of r.findings) lines.push([f.file, String(f.line), f.keyPath, f.kind, f.value, f.host, f.class, f.declaredBy ?? '', f.mirror ?? '', f.note ?? ''].map(csvField).join(','));
  return lines.join('\n') + '\n';
}
