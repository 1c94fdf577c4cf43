/** A path or argument as one POSIX shell word: quoted when it holds anything a shell would split or expand. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
