/**
 * Splits the spawn form's args field on whitespace. Single or double quotes keep spaces
 * inside one argument (`-m "fix the bug"`), since a prompt is a common argument.
 */
export function parseArgs(input: string): string[] {
  const args: string[] = []
  let current = ''
  let quote: '"' | "'" | null = null
  let inArg = false
  for (const ch of input) {
    if (quote) {
      if (ch === quote) quote = null
      else current += ch
      continue
    }
    if (ch === '"' || ch === "'") {
      quote = ch
      inArg = true
    } else if (/\s/.test(ch)) {
      if (inArg) args.push(current)
      current = ''
      inArg = false
    } else {
      current += ch
      inArg = true
    }
  }
  if (inArg) args.push(current)
  return args
}
