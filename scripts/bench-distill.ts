// npm run bench:distill — distillation training throughput (examples/s of forward + loss +
// backward + AdamW step, teacher logits cached) for the SST-2 student (sst2-student-init, batch
// 32, KD from sst2-bert-mini, T=2, alpha=0.5), printed beside PyTorch's 306 examples/s for the
// same student, batch and data on the 2-core reference machine. Goal: >= 1.5x. Also prints the
// process's peak RSS (goal: under 2 GB).
// Flags: --steps N (default 300), --threads N (default 1, as the acceptance runs), --batch-size N.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distill } from '../src/distill/distill.js';

const PYTORCH_EXAMPLES_PER_SECOND = 306;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const shared = process.env.DISTILLERY_SHARED ?? resolve(root, '../shared');
const teacher = join(shared, 'models/sst2-bert-mini/model.onnx');
const student = join(shared, 'models/sst2-student-init/model.onnx');
const train = join(shared, 'data/sst2/train.tsv');

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  if (![teacher, student, train].every((p) => existsSync(p))) {
    console.log(`bench:distill: ../shared not found (${shared}); nothing to measure. Set DISTILLERY_SHARED to its path.`);
    return;
  }
  const steps = flag('steps', 300);
  const threads = flag('threads', 1);
  const batchSize = flag('batch-size', 32);
  const out = mkdtempSync(join(tmpdir(), 'bench-distill-'));
  try {
    let lastTeacher = 0;
    const result = await distill(
      { teacher, student, train, output: join(out, 'model.onnx'), maxSteps: steps, batchSize, lr: 5e-4, temperature: 2, alpha: 0.5, threads },
      (e) => {
        if (e.type === 'teacher-progress' && (e.done - lastTeacher >= 10_000 || e.done === e.total)) {
          lastTeacher = e.done;
          console.error(`teacher logits (first run only, then cached): ${e.done}/${e.total}`);
        }
      },
    );
    const eps = result.examplesPerSecond;
    const rssMiB = process.resourceUsage().maxRSS / 1024;
    console.log(`bench:distill — SST-2 student (sst2-student-init), KD from sst2-bert-mini, batch ${batchSize}, ${threads} threads, ${cpus().length} CPUs`);
    console.log(`teacher logits: ${result.teacherLogits.cached ? 'cached' : `computed in ${result.teacherLogits.seconds.toFixed(1)} s (cached for the next run)`}`);
    console.log(`steps:          ${result.steps} (${result.examplesSeen} examples in ${result.trainSeconds.toFixed(1)} s of training steps)`);
    console.log(`onnx-distillery ${eps.toFixed(0)} examples/s`);
    console.log(`PyTorch 1.13    ${PYTORCH_EXAMPLES_PER_SECOND} examples/s (same student, batch and data, 2 threads)`);
    console.log(`ratio           ${(eps / PYTORCH_EXAMPLES_PER_SECOND).toFixed(2)}x (goal >= 1.5x)`);
    console.log(`peak RSS        ${rssMiB.toFixed(0)} MiB (goal < 2048 MiB)`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

await main();
