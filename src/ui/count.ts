/** `1 zone`, `3 zones`, `1 external endpoint`: a count with its noun, singular for exactly one (`many` when the plural is not noun + s). */
export function counted(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
