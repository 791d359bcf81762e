// vitest prints no one-line summary; derive "N passed, N failed" from its JSON report.
import { readFileSync } from 'node:fs';

let report;
try {
  report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch (err) {
  console.log(`0 passed, 1 failed`);
  process.exit(1);
}
let passed = 0;
let failed = 0;
for (const file of report.testResults ?? []) {
  const asserts = file.assertionResults ?? [];
  for (const a of asserts) {
    if (a.status === 'passed') passed++;
    else if (a.status === 'failed') failed++;
  }
  // A file that failed to load (syntax error, hook failure) has no passing assertions: count it.
  if (file.status === 'failed' && !asserts.some((a) => a.status === 'failed')) failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
