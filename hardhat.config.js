// Hardhat 2 configuration: compiles contracts/ offline with the npm `solc` package, with the compiler version,
// optimizer and EVM version read from contracts/compiler.json (the file scripts/build_contracts.py reads too).
"use strict";

const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
const compiler = require("./contracts/compiler.json");

// Hardhat would download its compiler list and a native solc; hand it the solc-js build from node_modules.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async ({ solcVersion }) => {
  if (solcVersion !== compiler.version) {
    throw new Error(`only solc ${compiler.version} (contracts/compiler.json) is available offline, not ${solcVersion}`);
  }
  const solc = require("solc");
  const longVersion = solc.version().replace(/\.Emscripten\.clang$/, "");
  if (!longVersion.startsWith(`${compiler.version}+`)) {
    throw new Error(`node_modules has solc ${longVersion}, contracts/compiler.json pins ${compiler.version}: run npm ci`);
  }
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: compiler.version,
    longVersion,
  };
});

/** @type {import("hardhat/config").HardhatUserConfig} */
module.exports = {
  solidity: {
    version: compiler.version,
    settings: {
      evmVersion: compiler.evmVersion,
      optimizer: compiler.optimizer,
    },
  },
  paths: {
    sources: "./contracts",
    // Build output stays out of the work tree; the committed artifacts are ledger/artifacts/.
    artifacts: "./node_modules/.cache/hardhat/artifacts",
    cache: "./node_modules/.cache/hardhat/cache",
  },
  networks: {
    hardhat: {
      chainId: 31337,
    },
  },
};
