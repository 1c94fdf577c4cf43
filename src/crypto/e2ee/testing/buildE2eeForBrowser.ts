import { execFile } from 'node:child_process';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const e2eeDir = fileURLToPath(new URL('../', import.meta.url));

/**
 * Compiles src/crypto/e2ee with the project's compiler options into a fresh temp directory,
 * as `tsc -p tsconfig.build.json` would emit it but without Node's type definitions, and
 * returns the folder that holds the `.js` files (what the server serves under `/assets/e2ee/`).
 * Compiler errors reject with tsc's output.
 */
export async function buildE2eeForBrowser(): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), 'loopgate-e2ee-'));
  const files = (await readdir(e2eeDir)).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  );
  const tsconfig = join(outDir, 'tsconfig.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      extends: join(repoRoot, 'tsconfig.json'),
      // No Node types: a Node API slipping into this folder fails the build here.
      compilerOptions: { rootDir: join(repoRoot, 'src'), outDir, sourceMap: false, types: [] },
      files: files.map((f) => join(e2eeDir, f)),
      include: [],
    }),
  );
  await promisify(execFile)(
    process.execPath,
    [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', tsconfig],
    {
      cwd: repoRoot,
    },
  ).catch((err: { stdout?: string }) => {
    throw new Error(`tsc failed on src/crypto/e2ee:\n${err.stdout ?? String(err)}`);
  });
  return join(outDir, 'crypto', 'e2ee');
}
