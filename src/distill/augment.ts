/**
 * `--augment`: a transfer set made from the training texts themselves. A teacher trained on a
 * small set has memorised it (Banking77's 4-layer teacher: 99.1 % on its training texts), so its
 * soft targets on those texts are nearly the labels and teach a student little beyond them. On
 * perturbed copies (words dropped, swapped with a neighbour, or replaced by another word of the
 * training texts) the teacher's outputs are no longer memorised answers: they show how it
 * weighs the classes near the training texts, which labels alone cannot (TinyBERT's data
 * augmentation, without its masked-LM and GloVe dependencies). The copies carry no label: their
 * loss is the teacher term only.
 *
 * Off by default. Measured on Banking77 (docs/commands/distill.md): it helps a student with room
 * to learn (1 of the teacher's 4 blocks: validation 87.96 -> 88.81 %, test 88.18 -> 88.67 %, two
 * seeds) and not one that already matches the teacher (2 of 4 blocks, five runs each: validation
 * 88.94 -> 89.11 %, test 88.18 -> 88.14 %), at (1 + copies) times the steps.
 */
import { SeededRandom } from '../architectures/random.js';
import type { DatasetRecord } from '../data/dataset.js';
import type { TextSet } from './training-data.js';

export interface AugmentSettings {
  /** Perturbed copies per training text. */
  copies: number;
  /** Chance that each word is perturbed (dropped, swapped with the next word, or replaced). */
  rate: number;
  seed: number;
}

/** `--augment auto`: copies for a training set of this many texts (small sets are where the teacher has memorised its answers). */
export const autoAugmentBelow = 20_000;
export const autoAugmentCopies = 2;

/** Copies per text that `auto` means for a training set of `n` texts. */
export function resolveAugmentCopies(augment: number | 'auto', n: number): number {
  return augment === 'auto' ? (n < autoAugmentBelow ? autoAugmentCopies : 0) : augment;
}

const words = (text: string) => text.split(/\s+/).filter((w) => w !== '');

/**
 * One perturbed copy of `text`: each word, with chance `rate`, is dropped, swapped with the
 * word after it, or replaced by a word drawn from `pool` (the training texts' words, so by
 * their frequency), one third each. A copy never comes out empty.
 */
export function perturbText(text: string, rate: number, pool: readonly string[], rng: SeededRandom): string {
  const ws = words(text);
  const out: string[] = [];
  for (let i = 0; i < ws.length; i++) {
    const r = rng.next();
    if (r >= rate) out.push(ws[i]!);
    else if (r < rate / 3) continue;
    else if (r < (2 * rate) / 3) out.push(pool.length ? pool[rng.int(pool.length)]! : ws[i]!);
    else if (i + 1 < ws.length) {
      out.push(ws[i + 1]!, ws[i]!);
      i++;
    } else out.push(ws[i]!);
  }
  if (out.length === 0 && ws.length) out.push(ws[rng.int(ws.length)]!);
  return out.join(' ');
}

/**
 * The transfer set of `copies` perturbed copies of each training text (and of its pair text),
 * unlabelled, in a fixed order for a given seed. Its `columns` name the augmentation, so the
 * teacher-logit cache tells it apart from the training set it came from.
 */
export function augmentedSet(train: TextSet, s: AugmentSettings): TextSet {
  const pool = train.records.flatMap((r) => [...words(r.text), ...(r.textPair !== undefined ? words(r.textPair) : [])]);
  const rng = new SeededRandom(0x5eed ^ s.seed);
  const records: DatasetRecord[] = [];
  for (let c = 0; c < s.copies; c++) {
    for (const r of train.records) {
      records.push({
        text: perturbText(r.text, s.rate, pool, rng),
        ...(r.textPair !== undefined ? { textPair: perturbText(r.textPair, s.rate, pool, rng) } : {}),
        line: r.line,
      });
    }
  }
  return {
    path: train.path,
    records,
    columns: { text: train.columns.text, ...(train.columns.textPair !== undefined ? { textPair: train.columns.textPair } : {}), augment: `copies=${s.copies},rate=${s.rate},seed=${s.seed}` },
    unlabeled: true,
  };
}
