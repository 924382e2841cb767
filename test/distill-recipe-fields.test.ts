import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addFieldOptions, addRecipeOptions, recipeFromFlags, type RecipeFlags } from '../src/cli/training-flags.js';
import { resolveLossSpec, resolveRecipe, resolveTeacherRun } from '../src/distill/options.js';
import { distillFields, fieldsFromFlags, trainingFields } from '../src/distill/recipe-fields.js';

function parse(args: string[]) {
  const cmd = new Command('distill').exitOverride();
  addFieldOptions(cmd, distillFields);
  addRecipeOptions(cmd);
  cmd.parse(['--train', 't.csv', '-o', 'out/model.onnx', ...args], { from: 'user' });
  const flags = cmd.opts() as RecipeFlags;
  return { ...recipeFromFlags(flags), ...fieldsFromFlags(distillFields, flags) };
}

// What the flags parsed to before the table existed (hand-written from the old recipeFromFlags).
const before = {
  train: 't.csv',
  output: 'out/model.onnx',
  dataset: { textCol: undefined, textPairCol: undefined, labelCol: undefined, format: undefined, header: 'auto' },
  epochs: 3,
  batchSize: 32,
  lr: 5e-4,
  seed: 0,
  warmup: 0.06,
  schedule: 'linear',
  optimizer: 'adamw',
  weightDecay: 0.01,
  momentum: 0.9,
  maxGradNorm: 1,
  freeze: [],
  dropout: 0,
  resume: false,
  bucket: 100,
  device: 'cpu',
  evalBatchSize: 64,
  force: false,
  loss: 'kl',
  temperature: 2,
  alpha: 0.5,
  teacherBatchSize: 64,
  teacherCache: true,
  // Added with the intermediate losses (off by default).
  hiddenLoss: 'none',
  hiddenWeight: 1,
  attentionLoss: 'none',
  attentionWeight: 1,
  intermediateCacheMb: 512,
  // Added with --augment (off by default: it did not measurably help on Banking77).
  augment: 0,
  augmentRate: 0.3,
};

describe('the recipe declared once', () => {
  it('parses the default flags to the same recipe as before', () => {
    expect(parse([])).toEqual(before);
  });

  it('parses every flag to the same recipe as before', () => {
    const args = [
      '--val', 'v.csv', '--epochs', '2', '--max-steps', '7', '--batch-size', '8', '--lr', '1e-3', '--seed', '4', '--warmup', '10',
      '--schedule', 'cosine', '--optimizer', 'sgd', '--weight-decay', '0', '--momentum', '0.5', '--max-grad-norm', '0',
      '--freeze', 'embeddings', '--freeze', '*.bias', '--dropout', '0.1', '--eval-every', '5', '--patience', '2', '--select', 'last',
      '--save-every', '3', '--resume', '--checkpoint-dir', 'ck', '--log', 'l.jsonl', '--bucket', '0', '--threads', '2', '--device', 'auto',
      '--max-length', '64', '--eval-batch-size', '16', '--text-col', 'sentence', '--no-header', '--labels', 'a,b', '--force',
      '--loss', 'mse', '--temperature', '3', '--alpha', '0.9', '--teacher-batch-size', '8', '--no-teacher-cache',
      '--hidden-loss', 'cosine', '--hidden-weight', '0.5', '--attention-loss', 'kl', '--attention-weight', '2', '--layer-map', '1,3', '--intermediate-cache-mb', '0',
      '--augment', '3', '--augment-rate', '0.2',
    ];
    expect(parse(args)).toEqual({
      ...before,
      val: 'v.csv',
      dataset: { ...before.dataset, textCol: 'sentence', header: false },
      labels: 'a,b',
      epochs: 2, maxSteps: 7, batchSize: 8, lr: 1e-3, seed: 4, warmup: 10, schedule: 'cosine', optimizer: 'sgd', weightDecay: 0,
      momentum: 0.5, maxGradNorm: 0, freeze: ['embeddings', '*.bias'], dropout: 0.1, evalEvery: 5, patience: 2, select: 'last',
      saveEvery: 3, resume: true, checkpointDir: 'ck', log: 'l.jsonl', bucket: 0, threads: 2, device: 'auto', maxLength: 64,
      evalBatchSize: 16, force: true, loss: 'mse', temperature: 3, alpha: 0.9, teacherBatchSize: 8, teacherCache: false,
      hiddenLoss: 'cosine', hiddenWeight: 0.5, attentionLoss: 'kl', attentionWeight: 2, layerMap: [1, 3], intermediateCacheMb: 0,
      augment: 3, augmentRate: 0.2,
    });
  });

  it('refuses bad flag text with the flag named', () => {
    expect(() => parse(['--epochs', '0'])).toThrow(/--epochs must be a positive integer/);
    expect(() => parse(['--lr', 'x'])).toThrow(/--lr must be a number/);
    expect(() => parse(['--loss', 'kd'])).toThrow(/--loss must be one of kl, mse, ce/);
    expect(() => parse(['--layer-map', '1,x'])).toThrow(/--layer-map must be comma-separated layer numbers/);
    expect(() => parse(['--hidden-loss', 'l1'])).toThrow(/--hidden-loss must be one of none, mse, cosine/);
  });

  it('gives the library and the CLI the same defaults', () => {
    const cliDefaults = parse([]);
    const library = { ...resolveRecipe({}, false), ...resolveLossSpec({}) };
    for (const key of [...Object.keys(trainingFields), 'temperature', 'alpha']) {
      expect(library[key as keyof typeof library], key).toEqual(cliDefaults[key as keyof typeof cliDefaults] ?? (key === 'select' ? 'last' : undefined));
    }
    expect(resolveTeacherRun({})).toEqual({ batchSize: cliDefaults.teacherBatchSize, useCache: cliDefaults.teacherCache });
    expect(resolveLossSpec({}).kind).toBe(cliDefaults.loss);
  });

  it('checks library values with the flag named', () => {
    expect(() => resolveRecipe({ epochs: 0 }, true)).toThrow('--epochs must be an integer >= 1, got 0');
    expect(() => resolveRecipe({ schedule: 'step' as never }, true)).toThrow('--schedule must be linear, cosine or constant, got step');
    expect(() => resolveLossSpec({ loss: 'hinge' as never })).toThrow('--loss must be kl, mse or ce, got hinge');
    expect(resolveLossSpec({ loss: 'kd' })).toMatchObject({ kind: 'kd' });
    expect(() => resolveTeacherRun({ teacherBatchSize: 0 })).toThrow(/--teacher-batch-size/);
  });
});
