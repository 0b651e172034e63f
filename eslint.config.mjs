// Lint: TypeScript recommended rules, plus the workflow sandbox rule: workflows/ may import
// only @temporalio/workflow, types, and each other (no Node built-ins, no I/O libraries).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.medic/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        require: 'readonly',
        module: 'readonly',
        __dirname: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        fetch: 'readonly',
        NodeJS: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // The web console's browser script: plain JavaScript that runs in the browser, not in Node.
    files: ['src/coordinator/console/assets/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        location: 'readonly',
        history: 'readonly',
        performance: 'readonly',
        URLSearchParams: 'readonly',
      },
    },
  },
  {
    // The ledger bundle (src/coordinator/workflows.ts and what it imports) runs in the sandbox too;
    // test/unit/ledger-sandbox.test.ts checks that every module of the built bundle is listed here.
    files: [
      'workflows/**/*.ts',
      'src/coordinator/workflows.ts',
      'src/ledger/workflow.ts',
      'src/ledger/state.ts',
      'src/ledger/messages.ts',
      'src/ledger/patches.ts',
      'src/ledger/run-options.ts',
      'src/ledger/fleet/workflow.ts',
      'src/ledger/fleet/state.ts',
      'src/watcher/workflow.ts',
      'src/watcher/state.ts',
      'src/approval/workflow.ts',
      'src/approval/state.ts',
      'src/approval/messages.ts',
      'src/audit/workflow.ts',
      'src/audit/state.ts',
      'src/audit/messages.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^node:', message: 'workflows run in the Temporal sandbox: no Node built-ins' },
            {
              regex: '^(fs|path|os|child_process|net|http|https|crypto|dns|tls|url|util|stream|events)$',
              message: 'workflows run in the Temporal sandbox: no Node built-ins',
            },
            { regex: '^@temporalio/(?!workflow$|common$)', message: 'workflows import only @temporalio/workflow (and types)' },
            { regex: '^(fastify|prom-client|@cdktn/hcl2json)$', message: 'workflows must stay deterministic and free of I/O' },
            {
              // Pure modules shared with workflows: queue naming (the one place queue names are
              // built), search-attribute keys (MedicOutcome is upserted by workflows), duration
              // parsing (workflow params are durations written as in HCL) and the param schema
              // checks (the worker re-checks params before a workflow runs).
              regex: '^(\\.\\./)+(src|activities)/(?!naming/task-queues$|naming/search-attributes$|duration$|params/resolve$)',
              message: 'workflows may import only types from activities/ and src/ (use import type)',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
