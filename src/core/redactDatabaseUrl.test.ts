import { describe, expect, it } from 'vitest';
import { redactDatabaseUrl } from './redactDatabaseUrl.js';

describe('redactDatabaseUrl', () => {
  it('hides the password, in the user part and in the query', () => {
    expect(redactDatabaseUrl('postgres://app:s3cr%40t@db.example.com:5432/loopgate')).toBe(
      'postgres://app:***@db.example.com:5432/loopgate',
    );
    const shown = redactDatabaseUrl(
      'postgresql://db/loopgate?user=app&password=s3cret&sslmode=require',
    );
    expect(shown).not.toContain('s3cret');
    expect(shown).toContain('sslmode=require');
    expect(redactDatabaseUrl('postgres://app@db/loopgate')).toBe('postgres://app@db/loopgate');
  });

  it('hides a string that does not parse, whole', () => {
    expect(redactDatabaseUrl('app:s3cret@db:5432')).not.toContain('s3cret');
  });
});
