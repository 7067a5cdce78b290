import { Contract } from "@scrollback/contract-kit"

// The engine contract's core suites (buffer model, concurrency, cursor, writer lease), against the in-memory engine.
// Other engines run the same suites with their own layer (see @scrollback/redis).
Contract.contract("the in-memory engine", Contract.layerMemory, { suites: ["buffer", "cursor", "lease"] })
