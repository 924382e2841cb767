import { describe, expect, it } from 'vitest';
import { buildBertClassifier, defaultBertConfig } from '../src/architectures/bert.js';
import { findEmbeddingTables, initEmbeddingsFromTeacher, principalDirections } from '../src/architectures/embedding-init.js';
import { SeededRandom } from '../src/architectures/random.js';
import { tensorToFloat32 } from '../src/onnx/index.js';

const base = { ...defaultBertConfig, vocabSize: 60, numLabels: 3, numLayers: 2, maxPositions: 16 };

describe('principalDirections', () => {
  it('finds the axes of data stretched along known orthogonal directions', () => {
    // Data in 4-D with variances 9, 4, 1, 0.01 along a rotated basis.
    const rng = new SeededRandom(1);
    const c = Math.SQRT1_2;
    const basis = [[c, c, 0, 0], [c, -c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
    const sd = [3, 2, 1, 0.1];
    const n = 4000;
    const x = new Float32Array(n * 4);
    for (let r = 0; r < n; r++) {
      for (let k = 0; k < 4; k++) {
        const z = rng.normal() * sd[k]!;
        for (let i = 0; i < 4; i++) x[r * 4 + i]! += z * basis[k]![i]!;
      }
    }
    const q = principalDirections(x, n, 4, 2);
    for (let j = 0; j < 2; j++) {
      const dot = [0, 1, 2, 3].reduce((s, i) => s + q[i * 2 + j]! * basis[j]![i]!, 0);
      expect(Math.abs(dot)).toBeGreaterThan(0.99);
    }
  });
});

describe('initEmbeddingsFromTeacher', () => {
  it('copies the tables bit for bit when the widths match (post-LN, decomposed LayerNorm teacher)', () => {
    const teacher = buildBertClassifier({ ...base, hiddenSize: 16, numHeads: 2, intermediateSize: 32 }, { seed: 1, layerNorm: 'decomposed', opset: 14 });
    const student = buildBertClassifier({ ...base, hiddenSize: 16, numHeads: 2, intermediateSize: 32, numLayers: 1 }, { seed: 2 });
    const report = initEmbeddingsFromTeacher(student, teacher);
    expect(report.copied).toHaveLength(5);
    const s = findEmbeddingTables(student);
    const t = findEmbeddingTables(teacher);
    expect([...tensorToFloat32(s.word)]).toEqual([...tensorToFloat32(t.word)]);
    expect([...tensorToFloat32(s.position!)]).toEqual([...tensorToFloat32(t.position!)]);
    expect([...tensorToFloat32(s.tokenType!)]).toEqual([...tensorToFloat32(t.tokenType!)]);
  });

  it('projects onto the teacher principal directions when the student is narrower', () => {
    const teacher = buildBertClassifier({ ...base, hiddenSize: 16, numHeads: 2, intermediateSize: 32 }, { seed: 1 });
    const student = buildBertClassifier({ ...base, hiddenSize: 8, numHeads: 2, intermediateSize: 16 }, { seed: 2 });
    const report = initEmbeddingsFromTeacher(student, teacher);
    expect(report.projected).toEqual(expect.arrayContaining(['bert.embeddings.word_embeddings.weight', 'bert.embeddings.position_embeddings.weight']));
    // Projection is linear: the [PAD] row (zero in the teacher) stays zero.
    expect([...tensorToFloat32(findEmbeddingTables(student).word).subarray(0, 8)]).toEqual(new Array(8).fill(0));
  });
});
