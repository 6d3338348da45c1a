// A Vitest project: globalSetup starts Redis once and provides its URL to every worker.
import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { testcell: path.resolve(__dirname, "../../src") } },
  test: {
    root: __dirname,
    include: ["*.test.ts"],
    globalSetup: [path.resolve(__dirname, "global-setup.ts")],
    pool: "forks",
    poolOptions: { forks: { minForks: 2, maxForks: 2 } },
  },
});
