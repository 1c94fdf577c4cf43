import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { LoopgateError } from '../core/errors.js';
import { shellQuote } from './shellQuote.js';
import { databasePath } from './databasePath.js';

/**
 * The absolute data dir of a command that reads an existing one (`keys`, `operators`, `totp`,
 * `audit`, `webhooks`, `login-url`, `secret show`, `verify`). Such commands never create a data
 * dir: one made by mistake (the wrong working folder, a typo) would hold keys and operators no
 * server reads.
 * @param dataDir `--data-dir` as given (relative to the working folder)
 * @throws LoopgateError E_CLI_DATA_DIR_MISSING naming the folder looked in and how to point
 *   at the right one
 */
export function requireDataDir(dataDir: string): string {
  const dir = resolve(dataDir);
  if (existsSync(databasePath(dir))) return dir;
  const what = existsSync(dir)
    ? `${dir} holds no loopgate database (loopgate.db)`
    : `There is no folder ${dir}`;
  throw new LoopgateError(
    'E_CLI_DATA_DIR_MISSING',
    `${what}, so this is not a loopgate data dir. Point at the one your server uses with --data-dir DIR or LOOPGATE_DATA_DIR=DIR (\`loopgate serve\` prints it as "Data:"), or start a server on this one first with \`loopgate serve --data-dir ${shellQuote(dir)}\`.`,
  );
}
