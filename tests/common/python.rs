//! A Python peer from `tests/peers/` (a server nobody here wrote, on the
//! `websockets` package from PyPI), killed when dropped.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

pub struct PythonPeer {
    child: Child,
    pub port: u16,
}

impl PythonPeer {
    /// Runs `tests/peers/<script>` with `args` and waits for its
    /// `listening on PORT` line.
    pub fn start(script: &str, args: &[String]) -> Self {
        let python = std::env::var("WS_HARNESS_TEST_PYTHON").expect(
            "WS_HARNESS_TEST_PYTHON names a Python with `websockets` (bench/peers/requirements.txt); .ci/run sets it",
        );
        let script = format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(python)
            .arg(&script)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{script} said {line:?}"));
        Self { child, port }
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
