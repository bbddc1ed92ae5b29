// Lint rules that keep the layering of DESIGN.md §2 honest: no import cycles, and domain/ folders never
// import a transport package (gRPC, NATS, pg, execa) or generated proto code.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

const TRANSPORT_PACKAGES = ['@grpc/*', '@nats-io/*', 'pg', 'pg-*', 'execa', '@bufbuild/*'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'proto/gen/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // CommonJS scripts run by node as they are (scripts/bin-loader.cjs): node's module wrapper's names.
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', exports: 'writable', __dirname: 'readonly', __filename: 'readonly', process: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: TRANSPORT_PACKAGES, message: 'domain/ code stays free of transports: use a port interface' },
            { group: ['**/proto/gen/**'], message: 'domain/ code never imports generated proto code' },
            { group: ['**/transport/**', '**/adapters/**'], message: 'domain/ code never imports adapters' },
          ],
        },
      ],
    },
  },
);
