import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../src/eval/evaluator.js';

const SHARED = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared');
const teacher = join(SHARED, 'models/sst2-bert-mini/model.onnx');
const student = join(SHARED, 'models/sst2-student-init/model.onnx');
const validation = join(SHARED, 'data/sst2/validation.tsv');
const hasShared = existsSync(teacher) && existsSync(student) && existsSync(validation);
if (!hasShared) console.warn(`../shared is absent (${SHARED}): skipping the SST-2 accuracy check against PyTorch`);

describe.skipIf(!hasShared)('eval on SST-2 validation (../shared)', () => {
  it('matches the accuracies PyTorch reports in the model READMEs within 0.2 points', async () => {
    const r = await evaluate({ models: [student], teacher, data: validation });
    const [t, s] = r.models;
    expect(r.data.examples).toBe(872);
    expect(r.data.labels).toEqual(['negative', 'positive']);
    // sst2-bert-mini/README.md: dev accuracy 81.19 % (PyTorch).
    expect(Math.abs(t!.accuracy * 100 - 81.19)).toBeLessThanOrEqual(0.2);
    // sst2-student-init/README.md: untrained, 49.08 % (chance).
    expect(Math.abs(s!.accuracy * 100 - 49.08)).toBeLessThanOrEqual(0.2);
    expect(r.data.truncated).toBe(0);
    expect(r.comparisons[0]!.dropPoints).toBeCloseTo((t!.accuracy - s!.accuracy) * 100, 9);
  });
});
