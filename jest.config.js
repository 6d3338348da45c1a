/** Jest runs TypeScript through swc; ESM-only dependencies are transformed too. */
const base = {
  testEnvironment: "node",
  transform: {
    "^.+\\.(t|j)sx?$": ["@swc/jest", { jsc: { target: "es2022", parser: { syntax: "typescript" } }, module: { type: "commonjs" } }],
  },
  transformIgnorePatterns: ["/node_modules/(?!(p-retry|get-port|is-network-error)/)"],
};

module.exports = {
  testTimeout: 120000,
  projects: [
    // pure logic and in-process servers: no containers, no fixture registry
    { ...base, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts", "<rootDir>/src/**/*.test.ts"] },
    // real containers against the fixture registry (started once per run by globalSetup)
    {
      ...base,
      displayName: "e2e",
      testMatch: ["<rootDir>/test/e2e/**/*.test.ts"],
      globalSetup: "<rootDir>/test/fixtures/global-setup.js",
      globalTeardown: "<rootDir>/test/fixtures/global-teardown.js",
    },
  ],
};
