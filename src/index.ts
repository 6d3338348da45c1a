/**
 * testcell: throwaway containers for integration tests, with no Docker daemon.
 */
import "./polyfill";

export { GenericContainer, type FileToCopy, type DirectoryToCopy, type ContentToCopy } from "./container/generic-container";
export {
  StartedContainer,
  AbstractStartedContainer,
  type StartedTestContainer,
  type ContainerInfo,
  type ExecOptions,
  type StopOptions,
} from "./container/started-container";
export { StoppedContainer } from "./container/stopped-container";
export { PullPolicy } from "./container/pull-policy";
export { Volume } from "./container/volume";
export type { PortWithOptionalBinding } from "./container/port-spec";
export { Network, StartedNetwork } from "./network/network";
export { TestContainers } from "./network/host-ports";
export { Wait } from "./wait/wait";
export { AbstractWaitStrategy, type WaitStrategy, type ContainerHandle, type HealthCheck } from "./wait/wait-strategy";
export { LogWaitStrategy } from "./wait/log-wait-strategy";
export { HttpWaitStrategy } from "./wait/http-wait-strategy";
export { HostPortWaitStrategy } from "./wait/host-port-wait-strategy";
export { HealthCheckWaitStrategy } from "./wait/health-check-wait-strategy";
export { ShellWaitStrategy } from "./wait/shell-wait-strategy";
export { OneShotStartupWaitStrategy } from "./wait/one-shot-wait-strategy";
export { CompositeWaitStrategy } from "./wait/composite-wait-strategy";
export * from "./modules";
export { TestcellError, isTestcellError, ErrorCodes, type ErrorCode } from "./errors";
export { readConfig, type Config } from "./config";
export * from "./image";
export { createContext, type TestcellContext } from "./context";
export type { ExecResult, ExitInfo } from "./runtime/runtime";
