import { csvField, mdTable } from './inventory.js';
import { FINDING_CLASSES, type AuditReport } from './audit.js';

/** Human renderers for `ferry audit`; JSON is the report itself. Deterministic: no timestamps. */
export function renderAuditMarkdown(r: AuditReport): string {
  const out: string[] = [`# Audit: ${r.manifest}`, ''];
  if (r.target) out.push(`Mirror target: ${r.target}`, '');
  out.push(`${r.files} file(s) scanned, ${r.findings.length} reference(s) found.`, '');
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
  }
  if (r.skipped.length) {
    out.push('## Files not scanned', '');
    out.push(mdTable(['File', 'Reason', 'Unaudited'], r.skipped.map((s) => [s.file, s.reason, s.unscanned ? 'yes' : ''])), '');
  }
  out.push('## Mitigations', '');
  out.push(mdTable(['Endpoint', 'Mitigation', 'Requirement', 'Status', 'Referenced'], r.mitigations.map((m) => [m.title, m.type, m.requirement, m.status, String(m.referenced)])), '');
  out.push('## Checks', '');
  out.push(mdTable(['Subject', 'Name', 'Check', 'Status', 'Evidence'], r.checks.map((c) => [c.subject, c.endpoint, c.check, c.status, c.evidence])), '');
  if (r.failOn) out.push(`--fail-on ${r.failOn}: ${r.failed ? 'FAILED' : 'passed'}`, '');
  return out.join('\n');
}

export function renderAuditCsv(r: AuditReport): string {
  const lines = ['file,line,key_path,kind,reference,host,class,declared_by,mirror,note'];
  for (const f of r.findings) lines.push([f.file, String(f.line), f.keyPath, f.kind, f.value, f.host, f.class, f.declaredBy ?? '', f.mirror ?? '', f.note ?? ''].map(csvField).join(','));
  return lines.join('\n') + '\n';
}
