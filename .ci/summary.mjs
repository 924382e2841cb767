// Prints "N passed, N failed[, N skipped]" from vitest's JSON report plus extra checks given as
// `name=pass|fail` arguments (the landing check reads this line).
import { readFileSync } from 'node:fs';

const [file, ...extra] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  passed = report.numPassedTests ?? 0;
  failed = (report.numFailedTests ?? 0) + (report.numRuntimeErrorTestSuites ?? 0);
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
} catch (e) {
  console.log(`no test report at ${file} (${e.code ?? e.message})`);
  failed += 1;
}
for (const check of extra) {
  const ok = check.endsWith('=pass');
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${check.replace(/=(pass|fail)$/, '')}: ${ok ? 'passed' : 'FAILED'}`);
}
console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''));
process.exit(failed > 0 || passed === 0 ? 1 : 0);
