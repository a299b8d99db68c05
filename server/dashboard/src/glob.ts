/**
 * Redis-style glob patterns (`*`, `?`, `[abc]`, `[^a-z]`, `\x`) as RegExps, for filtering on the page what
 * the server already sent (the feed's keyevent messages, rows already listed). The server's matcher
 * (server/src/engine/glob.ts) stays the reference; this one agrees with it on well-formed patterns.
 */

const cache = new Map<string, RegExp>();

/** The RegExp matching exactly the strings `pattern` matches (compiled once per pattern). */
export function globToRegExp(pattern: string): RegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else if (c === '\\' && i + 1 < pattern.length) re += escapeChar(pattern[++i]);
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const not = body.startsWith('^');
      if (not) body = body.slice(1);
      re += `[${not ? '^' : ''}${body.replace(/[\]\\^]/g, (x) => `\\${x}`)}]`;
      i = end;
    } else re += escapeChar(c);
  }
  const compiled = new RegExp(`^${re}$`);
  if (cache.size > 200) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}

function escapeChar(c: string): string {
  return /[.*+?^${}()|[\]\\/-]/.test(c) ? `\\${c}` : c;
}

/** Whether `subject` matches the glob `pattern` (`*` matches everything, the empty string included). */
export function globMatch(pattern: string, subject: string): boolean {
  if (pattern === '*' || pattern === '') return true;
  return globToRegExp(pattern).test(subject);
}
