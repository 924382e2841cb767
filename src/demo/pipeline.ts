import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { benchModels, type BenchResult } from '../bench/index.js';
import { distill, type DistillResult, type TrainingEvents } from '../distill/index.js';
import { UserError } from '../errors.js';
import { evaluate, type EvalReport } from '../eval/index.js';
import { packageRoot } from '../package-root.js';
import { quantizeFile, type QuantizeReport } from '../quantize/index.js';
import { renderReportHtml, type ReportData, type ReportModelRow } from './report-html.js';
import { studentConfig } from './recipe.js';
import { spamAssassinSplits, type SpamSplits } from './spam-assassin.js';

export interface DemoOptions {
  /** Where everything is written (default: ./distillery-demo/<timestamp>). Must be new or empty unless force. */
  outDir?: string;
  /** CI size: one epoch and fewer timing runs. */
  quick?: boolean;
  /** Distillation epochs (default 3; 1 with quick). */
  epochs?: number;
  threads?: number;
  seed?: number;
  force?: boolean;
  /** The teacher folder (default: the embedded models/spam-teacher). */
  teacherDir?: string;
  onPhase?: (phase: DemoPhase, message: string) => void;
  onTraining?: TrainingEvents;
}

export type DemoPhase = 'data' | 'distill' | 'quantize' | 'eval' | 'bench' | 'report';

export interface DemoRow extends ReportModelRow {
  path: string;
}

export interface DemoResult {
  /** @2: rows and `eval` are on the held-out test split; `validationEval` is the selection split. */
  schema: 'onnx-distillery/demo@2';
  outDir: string;
  files: { report: string; html: string; student: string; studentInt8: string };
  data: SpamSplits;
  rows: DemoRow[];
  /** student-int8 file size / student file size. */
  int8SizeRatio: number;
  distill: Pick<DistillResult, 'steps' | 'epochs' | 'seconds' | 'examplesPerSecond' | 'retention' | 'teacherLogits' | 'evals'>;
  quantize: Pick<QuantizeReport, 'files'>;
  /** On the held-out test split: the figures the rows and the gates use. */
  eval: EvalReport;
  /** On the validation split that picked the best student checkpoint: shown beside, never gated on. */
  validationEval: EvalReport;
  bench: BenchResult;
  seconds: number;
}

async function prepareOutDir(opts: DemoOptions): Promise<string> {
  const dir = resolve(opts.outDir ?? join('distillery-demo', new Date().toISOString().replace(/[:.]/g, '-')));
  if (existsSync(dir) && (await readdir(dir)).length > 0 && !opts.force) {
    throw new UserError(`${dir}: output directory is not empty (use --force to write into it)`);
  }
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * The whole mission on the embedded teacher and real e-mails: distill a fresh student (about a
 * quarter of the teacher's parameters), quantize it to int8, evaluate teacher / student /
 * student-int8 on the held-out test split (and, beside it, on the validation split that selected
 * the student's best checkpoint), benchmark all three at batch 1, and write report.json and
 * report.html.
 */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now();
  const phase = opts.onPhase ?? (() => {});
  const teacherDir = resolve(opts.teacherDir ?? join(packageRoot(), 'models', 'spam-teacher'));
  const teacher = join(teacherDir, 'model.onnx');
  if (!existsSync(teacher)) throw new UserError(`${teacher}: the demo teacher is missing (rebuild it with \`npm run models:rebuild\`)`);
  const outDir = await prepareOutDir(opts);
  const quick = opts.quick ?? false;

  phase('data', 'preparing the SpamAssassin splits');
  const data = spamAssassinSplits();

  phase('distill', `distilling ${studentConfig} from the teacher`);
  const studentPath = join(outDir, 'student', 'model.onnx');
  await mkdir(join(outDir, 'student'), { recursive: true });
  const distilled = await distill(
    {
      teacher,
      studentConfig,
      train: data.train,
      val: data.validation,
      output: studentPath,
      epochs: opts.epochs ?? (quick ? 1 : 3),
      batchSize: 32,
      lr: 1e-3,
      temperature: 2,
      alpha: 0.5,
      // The demo's recipe is fixed (docs/commands/demo.md shows its numbers), whatever the defaults.
      augment: 0,
      maxLength: 128,
      seed: opts.seed ?? 0,
      threads: opts.threads,
      // A few validation points per epoch draw the accuracy curve of report.html.
      evalEvery: quick ? 50 : 100,
      force: true,
    },
    opts.onTraining,
  );

  phase('quantize', 'quantizing the student to int8');
  const int8Dir = join(outDir, 'student-int8');
  await mkdir(int8Dir, { recursive: true });
  const int8Path = join(int8Dir, 'model.onnx');
  // quantizeFile copies config.json and vocab.txt next to the int8 model.
  const quantized = await quantizeFile(studentPath, int8Path, { force: true });

  phase('eval', 'evaluating teacher, student and student-int8 on the test split (and the validation split that selected the student)');
  const evalOn = (file: string) =>
    evaluate({ teacher, models: [studentPath, int8Path], data: file, maxLength: 128, session: { threads: opts.threads } });
  const evalReport = await evalOn(data.test);
  const validationEval = await evalOn(data.validation);

  phase('bench', 'benchmarking all three at batch 1');
  const seqLen = 128;
  const bench = await benchModels([teacher, studentPath, int8Path], {
    batchSizes: [1],
    seqLens: [seqLen],
    iterations: quick ? 40 : 200,
    warmup: quick ? 5 : 20,
    threads: opts.threads,
    labels: ['teacher', 'student', 'student-int8'],
  });

  phase('report', 'writing report.json and report.html');
  const names = ['teacher', 'student', 'student-int8'];
  const paths = [teacher, studentPath, int8Path];
  const teacherAcc = evalReport.models[0]!.accuracy;
  const teacherP50 = bench.runs.find((r) => r.model === 0)!.latencyMs.p50;
  const rows: DemoRow[] = names.map((name, i) => {
    const run = bench.runs.find((r) => r.model === i)!;
    const m = bench.models[i]!;
    const acc = evalReport.models[i]!.accuracy;
    return {
      name,
      path: paths[i]!,
      accuracy: acc,
      validationAccuracy: validationEval.models[i]!.accuracy,
      retention: i === 0 ? null : acc / teacherAcc,
      sizeBytes: m.fileBytes,
      parameters: m.parameters,
      p50Ms: run.latencyMs.p50,
      throughput: run.throughput.examplesPerSec,
      speedup: i === 0 ? null : teacherP50 / run.latencyMs.p50,
    };
  });
  const int8SizeRatio = rows[2]!.sizeBytes / rows[1]!.sizeBytes;
  const files = {
    report: join(outDir, 'report.json'),
    html: join(outDir, 'report.html'),
    student: studentPath,
    studentInt8: int8Path,
  };
  const result: DemoResult = {
    schema: 'onnx-distillery/demo@2',
    outDir,
    files,
    data,
    rows,
    int8SizeRatio,
    distill: {
      steps: distilled.steps,
      epochs: distilled.epochs,
      seconds: distilled.seconds,
      examplesPerSecond: distilled.examplesPerSecond,
      retention: distilled.retention,
      teacherLogits: distilled.teacherLogits,
      evals: distilled.evals,
    },
    quantize: { files: quantized.files },
    eval: evalReport,
    validationEval,
    bench,
    seconds: (performance.now() - started) / 1000,
  };
  const html: ReportData = {
    title: 'onnx-distillery demo: SpamAssassin teacher -> student -> int8',
    generatedAt: new Date().toISOString(),
    machine: `${bench.machine.cpuModel} (${bench.machine.availableParallelism} CPUs), onnxruntime ${bench.machine.onnxruntimeVersion}`,
    rows,
    trainingLoss: distilled.losses.map(([step, loss]) => ({ step, loss })),
    validationAccuracy: distilled.evals.map((e) => ({ step: e.step, accuracy: e.accuracy })),
    notes: [
      `Accuracy and retention on the held-out test split (${evalReport.data.examples} e-mails); the validation split (${validationEval.data.examples} e-mails) picked the student's best checkpoint and is shown beside it. Latency: batch 1, ${seqLen} tokens, p50 over ${bench.settings.iterations} runs.`,
      `Distillation: ${distilled.steps} steps in ${distilled.trainSeconds.toFixed(0)} s (${distilled.examplesPerSecond.toFixed(0)} examples/s).`,
    ],
  };
  await writeFile(files.report, JSON.stringify(result, null, 2) + '\n');
  await writeFile(files.html, renderReportHtml(html));
  return result;
}
