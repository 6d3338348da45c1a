// A Jest project that shares one PostgreSQL container between its workers.
module.exports = {
  rootDir: __dirname,
  testEnvironment: "node",
  maxWorkers: 2,
  transform: { "^.+\\.(t|j)sx?$": ["@swc/jest", { jsc: { target: "es2022", parser: { syntax: "typescript" } }, module: { type: "commonjs" } }] },
  transformIgnorePatterns: ["/node_modules/(?!(p-retry|get-port|is-network-error)/)"],
  // in your project, `testcell` resolves from node_modules; here it is this repository's source
  moduleNameMapper: { "^testcell$": "<rootDir>/../../src", "^testcell/(.*)$": "<rootDir>/../../src/integrations/$1" },
  globalSetup: "<rootDir>/global-setup.ts",
  globalTeardown: "<rootDir>/global-teardown.ts",
  testMatch: ["<rootDir>/*.test.ts"],
};
