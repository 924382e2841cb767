/** Learning-rate schedules: linear warmup, then linear or cosine decay to zero (HF's defaults). */
export type DecayKind = 'linear' | 'cosine' | 'constant';

export interface ScheduleOptions {
  peakLr: number;
  totalSteps: number;
  /** Warmup steps (integer) or, when < 1, a fraction of totalSteps. */
  warmup: number;
  decay: DecayKind;
}

export function warmupSteps(o: Pick<ScheduleOptions, 'warmup' | 'totalSteps'>): number {
  return o.warmup > 0 && o.warmup < 1 ? Math.ceil(o.warmup * o.totalSteps) : Math.max(0, Math.floor(o.warmup));
}

/** The learning rate for optimizer step `step` (0-based), as HF's get_*_schedule_with_warmup. */
export function learningRateAt(step: number, o: ScheduleOptions): number {
  const warm = warmupSteps(o);
  if (step < warm) return (o.peakLr * (step + 1)) / warm;
  if (o.decay === 'constant') return o.peakLr;
  const span = Math.max(1, o.totalSteps - warm);
  const progress = Math.min(1, (step - warm) / span);
  if (o.decay === 'linear') return o.peakLr * Math.max(0, 1 - progress);
  return o.peakLr * 0.5 * (1 + Math.cos(Math.PI * progress));
}
