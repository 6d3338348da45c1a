/**
 * testcell: throwaway containers for integration tests, with no Docker daemon.
 */
import "./polyfill";

export { GenericContainer } from "./container/generic-container";
export { StartedContainer, type ExecOptions, type StopOptions } from "./container/started-container";
export { StoppedContainer } from "./container/stopped-container";
export { PullPolicy } from "./container/pull-policy";
export { Wait } from "./wait/wait";
export { AbstractWaitStrategy, type WaitStrategy, type ContainerHandle } from "./wait/wait-strategy";
export { LogWaitStrategy } from "./wait/log-wait-strategy";
export { TestcellError, isTestcellError, ErrorCodes, type ErrorCode } from "./errors";
export { readConfig, type Config } from "./config";
export { createContext, type TestcellContext } from "./context";
export type { ExecResult, ExitInfo } from "./runtime/runtime";
