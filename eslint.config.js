// ESLint flat config: eslint's and typescript-eslint's recommended rules (syntax only, no type
// information, so the lint stays a few seconds), with the project's own choices below.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'bench-results/', 'chaos-results/', '.sim-traces/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // The hand-written encoders advance a cursor after every field (`pos = putUint(out, pos, x)`),
      // the last one included, so that fields can be added without touching the line before.
      'no-useless-assignment': 'off',
      // `const self = this` for callbacks that get their own `this` (prom-client's collect()).
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self', 'outer'] }],
      // A parameter kept for a uniform signature (every step handler takes the effect sink) is named _x.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['test/**/*.ts'],
    languageOptions: { globals: { ...globals.mocha } },
    rules: {
      // Tests read untyped JSON documents (/status, /metrics) and poke at internals.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // The console's page script runs in the browser (served by the admin port), not in Node.
    files: ['actors/host/console/assets/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
