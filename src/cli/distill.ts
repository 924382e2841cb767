import chalk from 'chalk';
import type { Command } from 'commander';
import { InvalidArgumentError } from './commander.js';
import type { DistillResult } from '../distill/options.js';
import { formatBytes, formatTable, printJson, shownPath } from './output.js';
import { distillFields, fieldsFromFlags, type DistillFields, type ResolvedFieldValues } from '../distill/recipe-fields.js';
import {
  addFieldOptions,
  addRecipeOptions,
  choice,
  collect,
  percent,
  recipeFromFlags,
  runSummary,
  withProgress,
  type RecipeFlags,
} from './training-flags.js';

/** Version of the `--json` document (docs/commands/distill.md); bumped on any incompatible change. */
export const distillJsonSchema = 'onnx-distillery/distill@1';

type DistillFlags = RecipeFlags &
  ResolvedFieldValues<DistillFields> & {
    teacher: string;
    student?: string;
    studentConfig?: string;
    studentLayers?: string;
    studentEmbeddings: 'teacher' | 'random';
    pruneVocab?: boolean | number;
    unlabeled: string[];
  };

export function register(program: Command): void {
  const cmd = program
    .command('distill')
    .description("Train a student on a teacher's soft labels (knowledge distillation) and write it as a clean ONNX classifier.")
    .requiredOption('--teacher <path>', 'teacher ONNX classifier (its tokenizer and config.json next to it)')
    .option('--student <path>', 'student ONNX classifier to train (its tokenizer next to it)')
    .option('--student-config <spec>', "fresh BERT student with the teacher's vocabulary, labels and positions: layers=2,hidden=128,heads=2,ffn=512")
    .option(
      '--student-embeddings <from>',
      "a --student-config student's embedding tables: teacher (copied, or PCA-projected when narrower) or random",
      choice('--student-embeddings', ['teacher', 'random']),
      'teacher',
    )
    .option(
      '--student-layers <n|list>',
      "student made from the teacher's graph and weights: keep n of its encoder blocks spread over the depth (2), or the blocks listed (0,3); the default when no student is given (half the blocks, rounded up)",
    )
    .option(
      '--prune-vocab [min-count]',
      'keep only the vocabulary the training and unlabeled texts use (plus special tokens and single characters): smaller embedding table, tokenizer and config.json rewritten; with a count, only tokens used at least that often',
      (v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('--prune-vocab: the minimum count must be a positive integer');
        return n;
      },
    )
    .option('--unlabeled <path>', 'texts the teacher labels (soft targets only): .txt (one per line), .csv, .tsv, .jsonl (repeatable)', collect, []);
  addFieldOptions(cmd, distillFields);
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  $ distillery distill --teacher teacher/model.onnx --student-layers 2 --train train.tsv --val validation.tsv -o student/model.onnx\n' +
      '  $ distillery distill --teacher teacher/model.onnx --student-config layers=2,hidden=128,heads=2,ffn=512 \\\n' +
      '      --train train.tsv --val validation.tsv -o student/model.onnx\n' +
      '  $ distillery distill --teacher teacher/model.onnx --student student-init/model.onnx --train train.tsv \\\n' +
      '      --unlabeled more-texts.txt --val validation.tsv -o student/model.onnx --epochs 1 --temperature 2 --alpha 0.5\n',
  );
  addRecipeOptions(cmd).action(async (flags: DistillFlags) => {
    const result = await withProgress(Boolean(flags.quiet || flags.json), async (events, signal) =>
      (await import('../distill/distill.js')).distill(
        {
          ...recipeFromFlags(flags),
          teacher: flags.teacher,
          ...(flags.student !== undefined ? { student: flags.student } : {}),
          ...(flags.studentConfig !== undefined ? { studentConfig: flags.studentConfig, studentEmbeddings: flags.studentEmbeddings } : {}),
          ...(flags.studentLayers !== undefined ? { studentLayers: flags.studentLayers } : {}),
          ...(flags.pruneVocab !== undefined ? { pruneVocab: flags.pruneVocab } : {}),
          unlabeled: flags.unlabeled,
          ...fieldsFromFlags(distillFields, flags),
          signal,
        },
        events,
      ),
    );
    if (flags.json) printJson({ schema: distillJsonSchema, ...result });
    else process.stdout.write(formatDistillReport(result) + '\n');
  });
}

export function formatDistillReport(r: DistillResult): string {
  const ratio = (a: number, b: number) => (b > 0 ? `${((a / b) * 100).toFixed(1)} %` : undefined);
  const table = formatTable(
    ['model', 'val accuracy', 'parameters', 'size', 'path'],
    [
      ['teacher', percent(r.teacher.accuracy), r.teacher.parameters.toLocaleString('en-US'), formatBytes(r.teacher.bytes), shownPath(r.teacher.path)],
      ['student', percent(r.student.accuracy), r.student.parameters.toLocaleString('en-US'), formatBytes(r.student.bytes), shownPath(r.student.path)],
      ...(r.majority ? [['majority class', percent(r.majority.accuracy), '', '', `always "${r.majority.label}"`]] : []),
      [
        'student / teacher',
        r.retention !== undefined ? `${(r.retention * 100).toFixed(1)} % retained` : undefined,
        ratio(r.student.parameters, r.teacher.parameters),
        ratio(r.student.bytes, r.teacher.bytes),
        '',
      ],
    ],
  );
  const teacher = `teacher logits: ${r.teacherLogits.examples} examples${r.teacherLogits.cached ? ' (cached)' : ''} in ${r.teacherLogits.seconds.toFixed(1)}s` +
    (r.unlabeledExamples ? `; ${r.unlabeledExamples} of them unlabeled (soft targets only)` : '') +
    (r.augmentation.examples
      ? `; ${r.augmentation.examples} perturbed copies of the training texts (--augment ${r.augmentation.auto ? `auto: ${r.augmentation.copies}, a small training set` : r.augmentation.copies}, rate ${r.augmentation.rate})`
      : '');
  const lines = [table, ''];
  const d = r.derivedStudent;
  if (d) {
    lines.push(
      `student derived from the teacher: its layers ${d.keptLayers.join(',')} of ${d.teacherLayers}` +
        (d.byDefault ? ' (no student given: half its layers, rounded up; choose with --student-layers, --student-config or --student)' : ''),
    );
  }
  const emb = r.studentEmbeddings;
  if (emb) {
    lines.push(
      `student embeddings from the teacher: ${[emb.copied.length ? `${emb.copied.length} table(s) copied` : '', emb.projected.length ? `${emb.projected.length} projected onto its top principal directions` : ''].filter(Boolean).join(', ') || 'none matched'}`,
    );
  }
  const p = r.prunedVocab;
  if (p) {
    const change = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? `; validation accuracy ${percent(a)} -> ${percent(b)}` : '');
    lines.push(
      `--prune-vocab: ${p.tokensBefore} -> ${p.tokensAfter} tokens; model ${formatBytes(p.bytesBefore)} -> ${formatBytes(p.bytesAfter)}` +
        ` (${(((p.bytesBefore - p.bytesAfter) / p.bytesBefore) * 100).toFixed(1)} % smaller)${change(p.accuracyBefore, p.accuracyAfter)}`,
    );
  }
  const checks = r.checks.length ? ['', ...r.checks.map((w) => chalk.yellow(`warning: ${w}`))] : [];
  return [...lines, teacher, runSummary(r), ...checks].join('\n');
}

