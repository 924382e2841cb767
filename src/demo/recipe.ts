/**
 * The demo's fixed recipes: how models/spam-teacher was trained (scripts/rebuild-spam-teacher.ts)
 * and the student the demo distills from it.
 */
export const teacherRecipe = {
  config: 'layers=4,hidden=256,heads=4,ffn=1024,positions=128',
  vocabSize: 8000,
  maxLength: 128,
  epochs: 3,
  batchSize: 32,
  lr: 5e-4,
  seed: 0,
  threads: 1,
} as const;

/** About a quarter of the teacher's parameters: the same vocabulary, one narrower layer. */
export const studentConfig = 'layers=1,hidden=128,heads=2,ffn=512';
