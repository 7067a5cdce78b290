export * as Contract from "./contract.js"
