import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", "integrations/jest": "src/integrations/jest.ts", "modules/index": "src/modules/index.ts", "cli/main": "src/cli/main.ts" },
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  target: "node20",
  shims: true,
  noExternal: ["p-retry", "get-port", "is-network-error"],
});
