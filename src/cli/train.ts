import type { Command } from 'commander';
import type { TrainingResult } from '../distill/options.js';
import { formatBytes, formatTable, printJson, shownPath } from './output.js';
import { addRecipeOptions, percent, positiveInt, recipeFromFlags, runSummary, withProgress, type RecipeFlags } from './training-flags.js';

/** Version of the `--json` document (docs/commands/train.md); bumped on any incompatible change. */
export const trainJsonSchema = 'onnx-distillery/train@1';

interface TrainFlags extends RecipeFlags {
  model?: string;
  config?: string;
  tokenizer?: string;
  buildVocab?: number;
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('Train a classifier on hard labels (no teacher): teachers and baselines, with the distill engine.')
    .option('--model <path>', 'ONNX classifier to train further (its tokenizer and config.json next to it)')
    .option('--config <spec>', 'fresh BERT classifier: layers=4,hidden=256,heads=4,ffn=1024[,positions=512]')
    .option('--tokenizer <path>', 'tokenizer for --config (vocab.txt, tokenizer.json or their folder); copied next to the output')
    .option('--build-vocab <n>', 'build an n-token WordPiece vocabulary from the training texts (writes vocab.txt)', positiveInt('--build-vocab'));
  cmd.addHelpText(
    'after',
    '\nExamples:\n' +
      '  $ distillery train --config layers=4,hidden=256,heads=4,ffn=1024 --build-vocab 8000 \\\n' +
      '      --train train.jsonl --val validation.jsonl -o teacher/model.onnx\n' +
      '  $ distillery train --model student-init/model.onnx --train train.tsv --val validation.tsv -o baseline/model.onnx --epochs 1\n',
  );
  addRecipeOptions(cmd).action(async (flags: TrainFlags) => {
    const result = await withProgress(Boolean(flags.quiet || flags.json), async (events, signal) =>
      (await import('../distill/train.js')).train(
        {
          ...recipeFromFlags(flags),
          ...(flags.model !== undefined ? { model: flags.model } : {}),
          ...(flags.config !== undefined ? { config: flags.config } : {}),
          ...(flags.tokenizer !== undefined ? { tokenizer: flags.tokenizer } : {}),
          ...(flags.buildVocab !== undefined ? { buildVocab: flags.buildVocab } : {}),
          signal,
        },
        events,
      ),
    );
    if (flags.json) printJson({ schema: trainJsonSchema, ...result });
    else process.stdout.write(formatTrainReport(result) + '\n');
  });
}

export function formatTrainReport(r: TrainingResult): string {
  const table = formatTable(
    ['model', 'val accuracy', 'start accuracy', 'parameters', 'size'],
    [[shownPath(r.student.path), percent(r.student.accuracy), percent(r.initialAccuracy), r.student.parameters.toLocaleString('en-US'), formatBytes(r.student.bytes)]],
  );
  return [table, '', runSummary(r)].join('\n');
}
