/** Returns the fields of one CLIENT LIST / CLIENT INFO line (`id=3 addr=… name=…`) as a record. */
export function fields(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of line.trim().split(' ')) {
    const eq = part.indexOf('=');
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}
