import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  target: "node20",
  shims: true,
  noExternal: ["p-retry", "get-port", "is-network-error"],
});
