//! A Python peer from `tests/peers/` (a server nobody here wrote, on the
//! `websockets` package from PyPI), killed when dropped.

use std::process::Command;
use ws_harness::process::ServerProcess;

pub struct PythonPeer {
    _process: ServerProcess,
    pub port: u16,
}

impl PythonPeer {
    /// Runs `tests/peers/<script>` with `args` and waits (30 s at most) for
    /// its `listening on PORT` line.
    pub fn start(script: &str, args: &[String]) -> Self {
        let python = std::env::var("WS_HARNESS_TEST_PYTHON").expect(
            "WS_HARNESS_TEST_PYTHON names a Python with `websockets` (bench/peers/requirements.txt); .ci/run sets it",
        );
        let script = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut command = Command::new(python);
        command.arg(&script).args(args);
        let process = ServerProcess::spawn(command).unwrap_or_else(|e| panic!("{script}: {e}"));
        let port = process
            .addr()
            .parse()
            .unwrap_or_else(|_| panic!("{script} said it listens on {:?}", process.addr()));
        Self {
            _process: process,
            port,
        }
    }
}
