import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

/**
 * The layers of ../shared DESIGN.md ("imports point inward"): for each folder of src/, the
 * folders of ours its non-test files may import. `cli/` is the composition root and may import
 * anything; `typeOnly` folders may be imported for types alone.
 */
const layers = {
  core: { may: [] },
  store: { may: ['core'] },
  crypto: { may: ['core'] },
  config: { may: ['core'] },
  gates: { may: ['core', 'crypto'], typeOnly: ['store'] },
  channels: { may: ['core'] },
  handoff: { may: ['core', 'crypto'] },
  service: { may: ['core', 'store', 'crypto', 'gates', 'channels'] },
  http: { may: ['core', 'store', 'crypto', 'gates', 'channels', 'handoff', 'service'] },
  mcp: { may: ['core', 'store', 'crypto', 'gates', 'handoff', 'service'] },
};
const folders = [
  'core',
  'store',
  'crypto',
  'config',
  'gates',
  'channels',
  'handoff',
  'service',
  'http',
  'mcp',
  'cli',
];

function layerRule(folder, { may, typeOnly = [] }) {
  const forbidden = folders.filter((f) => f !== folder && !may.includes(f));
  const pattern = (names) => names.flatMap((f) => [`../${f}/*`, `../../${f}/*`, `../../../${f}/*`]);
  const outside = forbidden.filter((f) => !typeOnly.includes(f));
  const message = `${folder}/ may import only ${may.length ? may.join(', ') : 'nothing of ours'}${typeOnly.length ? ` (and types from ${typeOnly.join(', ')})` : ''}: see DESIGN.md, Layers.`;
  return {
    files: [`src/${folder}/**/*.ts`],
    ignores: ['src/**/*.test.ts', 'src/**/testing/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            ...(outside.length ? [{ group: pattern(outside), message }] : []),
            ...(typeOnly.length
              ? [{ group: pattern(typeOnly), message, allowTypeImports: true }]
              : []),
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'web/**', 'bench/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      ...importX.flatConfigs.typescript.settings,
      'import-x/resolver': undefined,
      'import-x/resolver-next': [createTypeScriptImportResolver()],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  ...Object.entries(layers).map(([folder, rule]) => layerRule(folder, rule)),
);
