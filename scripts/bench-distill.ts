// npm run bench:distill — distillation training throughput, all measured in this one run: a
// student derived from sst2-bert-mini (2 of its 4 layers, --student-layers 2) on the full SST-2
// training set, batch 32, trained with logit KD alone, then with each intermediate loss
// (hidden states, last-layer attention; the teacher runs on every batch for those), each for
// the same number of steps. Prints examples/s (forward + loss + backward + AdamW step; for the
// intermediate losses also the teacher's forward pass), each loss's step time against logit KD
// alone (goal for the hidden-state loss: <= 2x), and the process's peak RSS (goal: under 2 GB).
// No figure from another machine is printed: the PyTorch peer would have to run here, and it
// needs python3 with torch.
// Flags: --steps N (default 200), --threads N (default 1), --batch-size N (default 32).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distill } from '../src/distill/distill.js';
import type { DistillOptions } from '../src/distill/options.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const shared = process.env.DISTILLERY_SHARED ?? resolve(root, '../shared');
const teacher = join(shared, 'models/sst2-bert-mini/model.onnx');
const train = join(shared, 'data/sst2/train.tsv');

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const configs: Array<{ name: string; options: Partial<DistillOptions> }> = [
  { name: 'logit KD', options: {} },
  { name: '+ hidden states (mse)', options: { hiddenLoss: 'mse' } },
  { name: '+ hidden states (cosine)', options: { hiddenLoss: 'cosine' } },
  { name: '+ attention (kl)', options: { attentionLoss: 'kl' } },
  { name: '+ hidden (mse) + attention', options: { hiddenLoss: 'mse', attentionLoss: 'kl' } },
];

async function main(): Promise<void> {
  if (![teacher, train].every((p) => existsSync(p))) {
    console.log(`bench:distill: ../shared not found (${shared}); nothing to measure. Set DISTILLERY_SHARED to its path.`);
    return;
  }
  const steps = flag('steps', 200);
  const threads = flag('threads', 1);
  const batchSize = flag('batch-size', 32);
  const out = mkdtempSync(join(tmpdir(), 'bench-distill-'));
  const rows: Array<{ name: string; eps: number; msPerStep: number }> = [];
  let trainExamples = 0;
  try {
    for (const c of configs) {
      let lastTeacher = 0;
      const result = await distill(
        {
          teacher,
          studentLayers: 2,
          train,
          output: join(out, 'model.onnx'),
          force: true,
          maxSteps: steps,
          batchSize,
          threads,
          // The teacher's values are recomputed for every batch (what a run longer than the cache budget does).
          intermediateCacheMb: 0,
          ...c.options,
        },
        (e) => {
          if (e.type === 'teacher-progress' && (e.done - lastTeacher >= 10_000 || e.done === e.total)) {
            lastTeacher = e.done;
            console.error(`teacher logits (first run only, then cached): ${e.done}/${e.total}`);
          }
        },
      );
      trainExamples = result.trainExamples;
      rows.push({ name: c.name, eps: result.examplesPerSecond, msPerStep: (result.trainSeconds / result.steps) * 1000 });
      console.error(`${c.name}: ${result.examplesPerSecond.toFixed(0)} examples/s`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  const base = rows[0]!;
  console.log(
    `bench:distill — student derived from sst2-bert-mini (2 of 4 layers), SST-2 train (${trainExamples} rows), batch ${batchSize}, ` +
      `${steps} steps each, ${threads} threads, ${cpus().length} CPUs; teacher logits cached, intermediate teacher values computed per batch`,
  );
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`${'loss'.padEnd(w)}  examples/s  ms/step  step time vs logit KD`);
  for (const r of rows) {
    const ratio = r.msPerStep / base.msPerStep;
    const goal = r.name.startsWith('+ hidden states') ? (ratio <= 2 ? ' (goal <= 2x: met)' : ' (goal <= 2x: NOT met)') : '';
    console.log(`${r.name.padEnd(w)}  ${r.eps.toFixed(0).padStart(10)}  ${r.msPerStep.toFixed(1).padStart(7)}  ${ratio.toFixed(2)}x${goal}`);
  }
  console.log(`peak RSS ${rssMiB.toFixed(0)} MiB (goal < 2048 MiB: ${rssMiB < 2048 ? 'met' : 'NOT met'})`);
  const torch = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' });
  console.log(
    torch.status === 0
      ? 'PyTorch peer: python3 with torch is installed, but this script has no PyTorch peer to run; no PyTorch figure is printed.'
      : 'PyTorch peer: cannot run here (python3 with torch is not installed); no PyTorch figure is printed. Figures from another machine are not comparable.',
  );
}

await main();
