/**
 * A database URL safe to print: the password (and any `password=` query parameter) replaced
 * by `***`. A string that does not parse as a URL is replaced whole, since it may still hold a
 * secret. Used in every log line and error message that names a database.
 *
 * @param url a connection URL such as `postgres://user:secret@db.example.com:5432/loopgate`
 * @returns e.g. `postgres://user:***@db.example.com:5432/loopgate`
 */
export function redactDatabaseUrl(url: string): string {
  const unparsed = '(a database URL that does not parse)';
  // `user:secret@host` parses too (as scheme `user:`): only a URL with `scheme://` is shown.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return unparsed;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return unparsed;
  }
  if (parsed.password !== '') parsed.password = '***';
  for (const key of [...parsed.searchParams.keys()]) {
    if (/pass/i.test(key)) parsed.searchParams.set(key, '***');
  }
  return parsed.toString();
}
