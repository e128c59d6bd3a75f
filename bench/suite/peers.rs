//! The servers the suite measures side by side, each started as a process
//! of its own: the reference server, the floor and the Python peer.

use std::path::{Path, PathBuf};
use std::process::Command;
use ws_harness::process::ServerProcess;
use ws_harness::protocol::auth::TEST_JWT_SECRET;

/// One of the servers under measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// `ws-harness serve --test-mode`, rate limits lifted.
    WsHarness,
    /// The bare tokio-tungstenite floor (`floor.rs`).
    Floor,
    /// `bench/peers/python_peer.py` on `websockets`.
    Python,
}

impl Peer {
    pub(crate) const ALL: [Peer; 3] = [Peer::WsHarness, Peer::Floor, Peer::Python];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Peer::WsHarness => "ws-harness",
            Peer::Floor => "floor",
            Peer::Python => "python",
        }
    }

    /// Starts it on a free loopback port; `python` is the interpreter with
    /// the peer's packages (`bench/peers/requirements.txt`).
    pub(crate) fn start(self, python: &Path) -> std::io::Result<ServerProcess> {
        match self {
            Peer::WsHarness => {
                ServerProcess::serve_for_load(env!("CARGO_BIN_EXE_ws-harness").as_ref(), &[])
            }
            Peer::Floor => {
                let mut command = Command::new(std::env::current_exe()?);
                command.args(["floor", "--listen", "127.0.0.1:0"]);
                ServerProcess::spawn(command)
            }
            Peer::Python => {
                // The suite belongs to the cli package; the peer lives at the repository root.
                let script =
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/peers/python_peer.py");
                let mut command = Command::new(python);
                command.arg(script).args([
                    "--listen",
                    "127.0.0.1:0",
                    "--jwt-secret",
                    TEST_JWT_SECRET,
                ]);
                ServerProcess::spawn(command)
            }
        }
    }
}
