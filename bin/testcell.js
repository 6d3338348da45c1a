#!/usr/bin/env node
// The `testcell` command (see src/cli/main.ts).
require("../dist/cli/main.js");
