import { Contract } from "@scrollback/contract-kit"

// The engine contract's follower suite (ReplayStream.follow / frames), against the in-memory engine.
Contract.contract("the in-memory engine", Contract.layerMemory, { suites: ["follow"] })
