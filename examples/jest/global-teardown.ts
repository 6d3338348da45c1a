export { stopSharedContainers as default } from "testcell/jest";
