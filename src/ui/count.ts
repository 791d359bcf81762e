/** `1 zone`, `3 zones`, `1 external endpoint`: a count with its noun, singular for exactly one (`many` when the plural is not noun + s). */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${nounFor(n, one, many)}`;
}

/** The noun alone for a count shown apart from it (a report card's label): singular for exactly one. */
export function nounFor(n: number, one: string, many = `${one}s`): string {
  return n === 1 ? one : many;
}
