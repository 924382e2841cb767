// Models the bench tests run on, generated (never downloaded): an Identity graph to expose the
// harness's own cost, small BERT classifiers, and graphs with awkward inputs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBertClassifier, defaultBertConfig, type BertConfig } from '../src/architectures/bert.js';
import { DataType, encodeModel, GraphBuilder } from '../src/onnx/index.js';

export const tinyBert: BertConfig = { ...defaultBertConfig, vocabSize: 1000, numLabels: 2, hiddenSize: 32, numHeads: 2, intermediateSize: 64, numLayers: 2, maxPositions: 64 };
/** Big enough that one run costs clearly more than onnxruntime's fixed per-call cost. */
export const smallBert: BertConfig = { ...defaultBertConfig, vocabSize: 2000, numLabels: 2, hiddenSize: 128, numHeads: 4, intermediateSize: 512, numLayers: 4, maxPositions: 128 };

const made: string[] = [];

export function fixtureDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  made.push(dir);
  return dir;
}

/** Removes every folder fixtureDir made in this test file (call from afterAll). */
export function removeFixtureDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export function writeBert(dir: string, name: string, config: BertConfig = tinyBert, seed = 1): string {
  const path = join(dir, name);
  writeFileSync(path, encodeModel(buildBertClassifier(config, { seed })));
  return path;
}

/** y = Identity(x), x float [batch, sequence]: a run that does (almost) nothing. */
export function writeIdentity(dir: string, name = 'identity.onnx'): string {
  const b = new GraphBuilder({ opset: 17 });
  b.input('x', DataType.FLOAT, ['batch', 'sequence']);
  b.node('Identity', ['x'], { outputs: ['y'] });
  b.output('y', DataType.FLOAT, ['batch', 'sequence']);
  const path = join(dir, name);
  writeFileSync(path, encodeModel(b.build()));
  return path;
}

/** An image-like input with dims bench cannot guess: [batch, 3, height, width]. */
export function writeImageModel(dir: string): string {
  const b = new GraphBuilder({ opset: 17 });
  b.input('pixel_values', DataType.FLOAT, ['batch', 3, 'height', 'width']);
  b.node('Relu', ['pixel_values'], { outputs: ['y'] });
  b.output('y', DataType.FLOAT, ['batch', 3, 'height', 'width']);
  const path = join(dir, 'image.onnx');
  writeFileSync(path, encodeModel(b.build()));
  return path;
}
