import type { Command } from 'commander';
import { parseThreads, threadsHelp } from './threads.js';
import chalk from 'chalk';
import type { DemoResult } from '../demo/pipeline.js';
import { ExitCode } from '../errors.js';
import { formatBytes, formatTable, printJson, shownPath } from './output.js';
import { nonNegativeInt, number, positiveInt, withProgress } from './training-flags.js';

interface DemoFlags {
  outDir?: string;
  quick?: boolean;
  epochs?: number;
  threads?: number;
  seed: number;
  force?: boolean;
  minRetention?: number;
  maxInt8Ratio?: number;
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'The whole mission on the embedded teacher and real e-mails (SpamAssassin): distill a fresh student, ' +
        'quantize it to int8, evaluate and benchmark all three, write report.json and report.html.',
    )
    .option('--out-dir <dir>', 'where to write the student, its int8 version and the reports (default: ./distillery-demo/<time>)')
    .option('--quick', 'CI size: 1 epoch, fewer timing runs')
    .option('--epochs <n>', 'distillation epochs (default: 3, or 1 with --quick)', positiveInt('--epochs'))
    .option('--threads <n>', threadsHelp, parseThreads)
    .option('--seed <n>', 'seed of the student initialisation and batch order', nonNegativeInt('--seed'), 0)
    .option('--min-retention <r>', 'exit with code 3 when student or student-int8 keep less than this fraction of the teacher accuracy on the test split', number('--min-retention'))
    .option('--max-int8-ratio <r>', 'exit with code 3 when student-int8 is bigger than this fraction of the fp32 student', number('--max-int8-ratio'))
    .option('--force', 'write into a non-empty --out-dir')
    .option('--json', 'print the result (report.json) on stdout')
    .option('-q, --quiet', 'no progress output')
    .addHelpText('after', '\nExample:\n  $ distillery demo --quick --min-retention 0.95 --max-int8-ratio 0.3\n')
    .action(async (flags: DemoFlags) => {
      const quiet = Boolean(flags.quiet || flags.json);
      const logPhases = !quiet && !process.stderr.isTTY;
      const result = await withProgress(quiet, async (events) =>
        (await import('../demo/pipeline.js')).runDemo({
          outDir: flags.outDir,
          quick: flags.quick,
          epochs: flags.epochs,
          threads: flags.threads,
          seed: flags.seed,
          force: flags.force,
          onPhase: (_, message) => {
            if (logPhases) process.stderr.write(`demo: ${message}\n`);
            events({ type: 'phase', phase: 'reading', message });
          },
          onTraining: events,
        }),
      );
      const failures = gateFailures(result, flags);
      if (flags.json) printJson(result);
      else process.stdout.write(formatDemo(result) + '\n');
      for (const f of failures) process.stderr.write(chalk.red('gate failed: ') + f + '\n');
      if (failures.length) process.exitCode = ExitCode.gateMinAccuracy;
    });
}


function gateFailures(r: DemoResult, flags: DemoFlags): string[] {
  const out: string[] = [];
  if (flags.minRetention !== undefined) {
    for (const row of r.rows.slice(1)) {
      if (row.retention !== null && row.retention < flags.minRetention) {
        out.push(`${row.name} retention ${row.retention.toFixed(4)} < --min-retention ${flags.minRetention}`);
      }
    }
  }
  if (flags.maxInt8Ratio !== undefined && r.int8SizeRatio > flags.maxInt8Ratio) {
    out.push(`student-int8 is ${r.int8SizeRatio.toFixed(3)} of the student's size > --max-int8-ratio ${flags.maxInt8Ratio}`);
  }
  return out;
}

export function formatDemo(r: DemoResult): string {
  const table = formatTable(
    ['model', 'test acc.', 'val. acc.', 'retention', 'size', 'parameters', 'p50 (batch 1)', 'throughput', 'speed-up'],
    r.rows.map((m) => [
      m.name,
      `${(m.accuracy * 100).toFixed(2)} %`,
      m.validationAccuracy === undefined ? '-' : `${(m.validationAccuracy * 100).toFixed(2)} %`,
      m.retention === null ? '-' : m.retention.toFixed(3),
      formatBytes(m.sizeBytes),
      m.parameters.toLocaleString('en-US'),
      `${m.p50Ms.toFixed(2)} ms`,
      `${m.throughput.toFixed(0)}/s`,
      m.speedup === null ? '-' : `${m.speedup.toFixed(2)}x`,
    ]),
    {
      title:
        `distillery demo: SpamAssassin, accuracy and retention on ${r.eval.data.examples} held-out test e-mails ` +
        `(val. acc.: the ${r.validationEval.data.examples} validation e-mails that selected the student)`,
    },
  );
  return [
    table,
    '',
    `distilled ${r.distill.steps} steps (${r.distill.epochs} epoch${r.distill.epochs === 1 ? '' : 's'}) at ${r.distill.examplesPerSecond.toFixed(0)} examples/s; ` +
      `int8 student is ${(r.int8SizeRatio * 100).toFixed(1)} % of the fp32 student's size; whole demo ${r.seconds.toFixed(0)} s`,
    `reports: ${shownPath(r.files.report)}`,
    `         ${shownPath(r.files.html)}`,
    `output directory: ${shownPath(r.outDir)}`,
  ].join('\n');
}
