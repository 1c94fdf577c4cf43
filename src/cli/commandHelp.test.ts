import { describe, expect, it } from 'vitest';
import { configSchema, toEnvName, toFlagName } from '../config/configSchema.js';
import { commandSpecs, formatCommandHelp } from './commandHelp.js';

describe('formatCommandHelp', () => {
  it('lists every setting of the config schema under some command, with its env var and doc line', () => {
    const all = Object.keys(commandSpecs)
      .map((command) => formatCommandHelp(command)!)
      .join('\n');
    for (const [key, field] of Object.entries(configSchema.shape)) {
      expect(all).toContain(`--${toFlagName(key)}`);
      expect(all).toContain(toEnvName(key));
      expect(all).toContain(field.description!);
    }
  });

  it('knows no command that is not there', () => {
    expect(formatCommandHelp('launch')).toBeNull();
  });
});
