#!/usr/bin/env node
// Builds native/build/testcell-shim with the system C compiler (`npm install` and `npm test`
// run this). Quiet when the binary is up to date; rebuilds when any native source is newer.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { spawnSync } = require("node:child_process");

const nativeDir = path.resolve(__dirname, "..", "native");
const binary = path.join(nativeDir, "build", "testcell-shim");

function main() {
  if (process.platform !== "linux") {
    console.log(`testcell: skipping the native helper on ${process.platform}: the embedded runtime is Linux-only (the docker runtime is used instead)`);
    return 0;
  }
  if (upToDate()) return 0;
  const cc = process.env.CC || "cc";
  const missing = [cc.split(/\s+/)[0], "make"].filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    console.error(
      `testcell: cannot build the native helper (native/): ${missing.map((t) => `\`${t}\``).join(" and ")} not found on PATH.\n` +
        "Install a C toolchain, e.g. on Debian/Ubuntu: sudo apt-get install build-essential\n" +
        "(Fedora/RHEL: sudo dnf install gcc make; Alpine: apk add build-base), then run `npm run build:native`.",
    );
    return 1;
  }
  const result = spawnSync("make", ["-s", "-C", nativeDir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (result.error || result.status !== 0) {
    process.stderr.write(result.stdout || "");
    process.stderr.write(result.stderr || "");
    console.error(`testcell: building the native helper failed (make -C ${nativeDir}: ${result.error ? result.error.message : `exit ${result.status}`})`);
    return 1;
  }
  return 0;
}

// The binary exists and is newer than every source, header and the Makefile.
function upToDate() {
  let built;
  try {
    built = fs.statSync(binary).mtimeMs;
  } catch {
    return false;
  }
  return fs
    .readdirSync(nativeDir)
    .filter((name) => /\.(c|h)$/.test(name) || name === "Makefile")
    .every((name) => fs.statSync(path.join(nativeDir, name)).mtimeMs <= built);
}

function onPath(tool) {
  if (tool.includes("/")) return isExecutable(tool);
  return (process.env.PATH || "").split(path.delimiter).some((dir) => dir && isExecutable(path.join(dir, tool)));
}

function isExecutable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

process.exitCode = main();
