import { describe, expect, it } from 'vitest';
import { run } from './run-template.js';

// A chart's values are hostile: a megabyte of digits handed to int, int64, atoi or add is out of
// int64's range whatever the digits are, and is said so without building the number (a BigInt
// grown digit by digit is quadratic: 300 000 digits took minutes).
describe('integers from very long digit strings', () => {
  it('int, int64, add and toDecimal give what Go gives (0 for a string out of range), at once', { timeout: 20_000 }, () => {
    const digits = '9'.repeat(300_000);
    const data = { s: digits, z: `${'0'.repeat(300_000)}42` /* base 0: a leading 0 is octal */, o: '7'.repeat(300_000) };
    expect(run('{{ int .s }}|{{ int64 .s }}|{{ add .s 1 }}|{{ int .z }}|{{ toDecimal .o }}', data)).toBe('0|0|1|34|0');
  });

  it('atoi clamps to the nearest int64, as strconv.Atoi does', { timeout: 20_000 }, () => {
    const data = { s: '9'.repeat(300_000), n: `-${'9'.repeat(300_000)}`, z: `-${'0'.repeat(300_000)}7` };
    expect(run('{{ atoi .s }}|{{ atoi .n }}|{{ atoi .z }}', data)).toBe('9223372036854775807|-9223372036854775808|-7');
  });
});
