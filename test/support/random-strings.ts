/**
 * Random strings over an alphabet of pieces that matter to a pattern, for checking a rewritten
 * pattern against the old one: a fixed seed, so every run draws the same strings.
 */
export function seededStrings(seed: number): (alphabet: string[], count: number, maxLen?: number) => Generator<string> {
  let state = seed;
  const rnd = (n: number) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % n;
  };
  return function* (alphabet, count, maxLen = 16) {
    for (let i = 0; i < count; i++) {
      let s = '';
      const len = rnd(maxLen);
      for (let j = 0; j < len; j++) s += alphabet[rnd(alphabet.length)];
      yield s;
    }
  };
}
