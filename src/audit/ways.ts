/** One way a string is filled in (Ansible's `{{ }}`, Terraform's `${var.x}`): its value, why any part stays as written, where each value came from. */
export interface Way {
  value: string;
  unknown: string[];
  by: string[];
}

/** Ways that fill a string in alike are one, every place named; an unknown way is never merged with a known one. */
export function mergeWays(ways: Way[]): Way[] {
  const byValue = new Map<string, Way>();
  for (const w of ways) {
    const k = `${w.unknown.length ? '?' : ''}${w.value}`;
    const had = byValue.get(k);
    if (had) (had.unknown = [...new Set([...had.unknown, ...w.unknown])]), (had.by = [...new Set([...had.by, ...w.by])]);
    else byValue.set(k, { value: w.value, unknown: [...new Set(w.unknown)], by: [...new Set(w.by)] });
  }
  return [...byValue.values()];
}
