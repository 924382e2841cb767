// Fuzz: corrupted models (byte flips in the graph section, truncations, dangling names, NaN
// weights) through every command that reads a model. Whatever the damage: never exit 1 (a
// crash), never a stack trace, and whatever quantize writes is valid ONNX that onnxruntime loads.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '../src/architectures/random.js';
import { checkModel, decodeModel, encodeModel, makeTensor, tensorToFloat32 } from '../src/onnx/index.js';
import { openSession } from '../src/runtime/session.js';
import { cli, fixtures } from './cli-run.js';

const dir = mkdtempSync(join(tmpdir(), 'fuzz-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const testData = join(fixtures, 'data', 'spam-test.jsonl');
const trainData = join(fixtures, 'data', 'spam-train.jsonl');

interface Mutant {
  name: string;
  bytes: Uint8Array;
}

/** Deterministic mutants of a fixture model's bytes. */
function mutants(source: string, seed: number): Mutant[] {
  const original = new Uint8Array(readFileSync(source));
  const rng = new SeededRandom(seed);
  const out: Mutant[] = [];
  // The graph's nodes are encoded before the large initializers: flips there hit names, op
  // types, attributes and field tags rather than weight values.
  const structure = Math.min(original.length, 6000);
  for (let k = 0; k < 14; k++) {
    const bytes = original.slice();
    const at = k < 10 ? Math.floor(rng.next() * structure) : Math.floor(rng.next() * original.length);
    bytes[at] = bytes[at]! ^ (1 + Math.floor(rng.next() * 255));
    out.push({ name: `flip-${k}@${at}`, bytes });
  }
  for (const fraction of [0.02, 0.3, 0.7, 0.999]) out.push({ name: `truncated-${fraction}`, bytes: original.slice(0, Math.floor(original.length * fraction)) });
  const model = decodeModel(original);
  const node = model.graph!.node!.find((n) => n.opType === 'Add')!;
  node.input![1] = `${node.input![1]}_gone`;
  out.push({ name: 'dangling', bytes: encodeModel(model) });
  const nanModel = decodeModel(original);
  // Initializers, or the value attributes of Constant nodes (paddle2onnx style).
  const weights = [...nanModel.graph!.initializer!, ...nanModel.graph!.node!.filter((n) => n.opType === 'Constant').map((n) => n.attribute![0]!.t!)];
  for (const t of weights) {
    if (!t.name!.endsWith('query.weight')) continue;
    const v = tensorToFloat32(t).fill(NaN);
    Object.assign(t, makeTensor(t.name!, v, t.dims!.map(Number)));
  }
  out.push({ name: 'nan-weights', bytes: encodeModel(nanModel) });
  return out;
}

/** Writes a mutant into its own folder with the fixture's config.json and vocab.txt. */
function place(fixture: string, m: Mutant): string {
  const folder = join(dir, fixture, m.name);
  mkdirSync(folder, { recursive: true });
  for (const f of ['config.json', 'vocab.txt']) copyFileSync(join(fixtures, fixture, f), join(folder, f));
  writeFileSync(join(folder, 'model.onnx'), m.bytes);
  return join(folder, 'model.onnx');
}

function expectNoCrash(what: string, r: { code: number; stderr: string }): void {
  expect(r.code, `${what}: exit ${r.code}\n${r.stderr}`).not.toBe(1);
  expect(r.stderr, what).not.toMatch(/internal error|\n\s+at .+:\d+:\d+/);
  if (r.code !== 0) expect(r.stderr, what).toMatch(/^error: |gate failed: |warning: /m);
}

async function expectValidOrAbsent(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const bytes = new Uint8Array(readFileSync(path));
  expect(checkModel(decodeModel(bytes)), path).toEqual([]);
  const { session } = await openSession(bytes, { threads: 1 });
  await session.release();
}

describe.each(['tiny-bert', 'tiny-bert-constants'])('fuzzed %s', (fixture) => {
  const all = mutants(join(fixtures, fixture, 'model.onnx'), fixture === 'tiny-bert' ? 11 : 12);

  it('inspect, quantize and eval: no crash, no stack trace, nothing invalid written', async () => {
    const outcomes = new Map<number, number>();
    for (const m of all) {
      const model = place(fixture, m);
      const inspect = await cli('inspect', model);
      expectNoCrash(`inspect ${m.name}`, inspect);
      const out = join(dir, 'out', fixture, m.name, 'model.onnx');
      const quantize = await cli('quantize', model, '-o', out);
      expectNoCrash(`quantize ${m.name}`, quantize);
      await expectValidOrAbsent(out);
      const evaluated = await cli('eval', '--model', model, '--data', testData);
      expectNoCrash(`eval ${m.name}`, evaluated);
      if (m.name === 'nan-weights') expect(evaluated.code).toBe(2);
      outcomes.set(evaluated.code, (outcomes.get(evaluated.code) ?? 0) + 1);
    }
    // The mutants really are broken: a good share is refused (flips inside weight values are not).
    expect(outcomes.get(2) ?? 0).toBeGreaterThanOrEqual(Math.floor(all.length / 4));
  });

  it('bench and distill (reading the model as teacher): no crash, no stack trace', async () => {
    for (const m of all.filter((_, i) => i % 4 === 0 || i >= all.length - 2)) {
      const model = place(fixture, m);
      expectNoCrash(`bench ${m.name}`, await cli('bench', model, '--seq-len', '16', '--iterations', '2', '--warmup', '1', '--no-isolate'));
      const out = join(dir, 'distilled', fixture, m.name, 'student.onnx');
      const distill = await cli('distill', '--teacher', model, '--student-config', 'layers=1,hidden=16,heads=2,ffn=32', '--train', trainData, '-o', out, '--max-steps', '1', '--quiet', '--no-teacher-cache');
      expectNoCrash(`distill ${m.name}`, distill);
      await expectValidOrAbsent(out);
    }
  });
});
