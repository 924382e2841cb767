// Classification metrics as pure functions over plain arrays. Logits are flat row-major
// [rows, width] arrays; labels below 0 mean "no label" and are skipped.

/** counts[t * size + p]: examples of true class t predicted as p. */
export interface ConfusionMatrix {
  size: number;
  counts: Float64Array;
}

export interface ClassMetrics {
  index: number;
  /** Examples whose true class this is. */
  support: number;
  /** Examples predicted as this class. */
  predicted: number;
  truePositives: number;
  precision: number;
  recall: number;
  f1: number;
}

export interface ConfusionPair {
  trueIndex: number;
  predictedIndex: number;
  count: number;
  /** count / support of the true class. */
  rate: number;
}

export function argmaxRows(logits: ArrayLike<number>, width: number): Int32Array {
  const rows = Math.floor(logits.length / width);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bestValue = logits[r * width]!;
    for (let j = 1; j < width; j++) {
      const v = logits[r * width + j]!;
      if (v > bestValue) {
        bestValue = v;
        best = j;
      }
    }
    out[r] = best;
  }
  return out;
}

/** Softmax of every row (temperature T divides the logits first). */
export function softmaxRows(logits: ArrayLike<number>, width: number, temperature = 1): Float64Array {
  const out = new Float64Array(logits.length);
  for (let r = 0; r * width < logits.length; r++) {
    const lse = logSumExp(logits, r * width, width, temperature);
    for (let j = 0; j < width; j++) out[r * width + j] = Math.exp(logits[r * width + j]! / temperature - lse);
  }
  return out;
}

function logSumExp(x: ArrayLike<number>, offset: number, width: number, temperature: number): number {
  let max = -Infinity;
  for (let j = 0; j < width; j++) max = Math.max(max, x[offset + j]! / temperature);
  let sum = 0;
  for (let j = 0; j < width; j++) sum += Math.exp(x[offset + j]! / temperature - max);
  return max + Math.log(sum);
}

/** KL(p || q) per row, p = softmax(teacher), q = softmax(student), computed in log space. */
export function klDivergenceRows(teacher: ArrayLike<number>, student: ArrayLike<number>, width: number, temperature = 1): Float64Array {
  if (teacher.length !== student.length) throw new RangeError(`teacher has ${teacher.length} logits, student ${student.length}`);
  const rows = Math.floor(teacher.length / width);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    const lp = logSumExp(teacher, o, width, temperature);
    const lq = logSumExp(student, o, width, temperature);
    let kl = 0;
    for (let j = 0; j < width; j++) {
      const logP = teacher[o + j]! / temperature - lp;
      const logQ = student[o + j]! / temperature - lq;
      const p = Math.exp(logP);
      if (p > 0) kl += p * (logP - logQ);
    }
    out[r] = Math.max(0, kl);
  }
  return out;
}

/** Mean over rows of KL(softmax(teacher) || softmax(student)). */
export function meanKlDivergence(teacher: ArrayLike<number>, student: ArrayLike<number>, width: number, temperature = 1): number {
  const rows = klDivergenceRows(teacher, student, width, temperature);
  return rows.length === 0 ? 0 : sum(rows) / rows.length;
}

/** Fraction of rows where both predictions are the same class. */
export function agreementRate(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`${a.length} predictions against ${b.length}`);
  if (a.length === 0) return 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** Fraction of labelled rows predicted right. */
export function accuracy(labels: ArrayLike<number>, predictions: ArrayLike<number>): number {
  let right = 0;
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! < 0) continue;
    total++;
    if (labels[i] === predictions[i]) right++;
  }
  return total === 0 ? 0 : right / total;
}

export function emptyConfusion(size: number): ConfusionMatrix {
  return { size, counts: new Float64Array(size * size) };
}

/** Adds labelled rows to a confusion matrix (so it can be filled chunk by chunk). */
export function addToConfusion(matrix: ConfusionMatrix, labels: ArrayLike<number>, predictions: ArrayLike<number>): ConfusionMatrix {
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i]!;
    const p = predictions[i]!;
    if (t < 0) continue;
    if (t >= matrix.size || p < 0 || p >= matrix.size) throw new RangeError(`class ${t >= matrix.size ? t : p} outside 0..${matrix.size - 1}`);
    matrix.counts[t * matrix.size + p]!++;
  }
  return matrix;
}

export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, size: number): ConfusionMatrix {
  return addToConfusion(emptyConfusion(size), labels, predictions);
}

export function confusionAccuracy(m: ConfusionMatrix): number {
  let right = 0;
  for (let i = 0; i < m.size; i++) right += m.counts[i * m.size + i]!;
  const total = sum(m.counts);
  return total === 0 ? 0 : right / total;
}

export function confusionTotal(m: ConfusionMatrix): number {
  return sum(m.counts);
}

/** Precision, recall and F1 of every class (0 where undefined, as scikit-learn's zero_division=0). */
export function classMetrics(m: ConfusionMatrix): ClassMetrics[] {
  const out: ClassMetrics[] = [];
  for (let c = 0; c < m.size; c++) {
    let support = 0;
    let predicted = 0;
    for (let k = 0; k < m.size; k++) {
      support += m.counts[c * m.size + k]!;
      predicted += m.counts[k * m.size + c]!;
    }
    const tp = m.counts[c * m.size + c]!;
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    out.push({ index: c, support, predicted, truePositives: tp, precision, recall, f1 });
  }
  return out;
}

/** Mean F1 over the classes that occur in the labels or in the predictions. */
export function macroF1(m: ConfusionMatrix): number {
  const present = classMetrics(m).filter((c) => c.support > 0 || c.predicted > 0);
  return present.length === 0 ? 0 : present.reduce((s, c) => s + c.f1, 0) / present.length;
}

/** The `k` most frequent (true -> predicted) mistakes, most frequent first. */
export function confusionPairs(m: ConfusionMatrix, k: number): ConfusionPair[] {
  const pairs: ConfusionPair[] = [];
  for (let t = 0; t < m.size; t++) {
    let support = 0;
    for (let p = 0; p < m.size; p++) support += m.counts[t * m.size + p]!;
    for (let p = 0; p < m.size; p++) {
      const count = m.counts[t * m.size + p]!;
      if (p !== t && count > 0) pairs.push({ trueIndex: t, predictedIndex: p, count, rate: count / support });
    }
  }
  pairs.sort((a, b) => b.count - a.count || a.trueIndex - b.trueIndex || a.predictedIndex - b.predictedIndex);
  return pairs.slice(0, k);
}

/** The `k` classes with the lowest F1 (larger support first on ties), among classes present. */
export function worstClasses(metrics: readonly ClassMetrics[], k: number): ClassMetrics[] {
  return metrics
    .filter((c) => c.support > 0 || c.predicted > 0)
    .sort((a, b) => a.f1 - b.f1 || b.support - a.support || a.index - b.index)
    .slice(0, k);
}

function sum(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s;
}
