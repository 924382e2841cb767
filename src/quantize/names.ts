/** Edit distance (insert, delete, substitute each cost 1). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The `k` names closest to `wanted`: names containing it (or contained in it) first, then by
 * edit distance. Exporter node names are long paths, so a typo in one segment still ranks close.
 */
export function nearestNames(wanted: string, names: readonly string[], k: number): string[] {
  const w = wanted.toLowerCase();
  const scored = names.map((name) => {
    const n = name.toLowerCase();
    const contains = n.includes(w) || w.includes(n);
    return { name, score: (contains ? 0 : 1e6) + editDistance(w, n) };
  });
  scored.sort((a, b) => a.score - b.score || a.name.localeCompare(b.name));
  return scored.slice(0, k).map((s) => s.name);
}
