//! A server as a child process: started, its address read from the first
//! line it prints, killed when dropped.

use crate::protocol::LISTENING_ON;
use std::time::Duration;
use url::Url;

/// A server running as a child process that prints `listening on HOST:PORT`
/// as the first line of its stdout, as `ws-harness serve` does. Killed when
/// dropped.
///
/// ```no_run
/// use ws_harness::process::ServerProcess;
/// let server = ServerProcess::serve_for_load("target/release/ws-harness".as_ref(), &[]).unwrap();
/// println!("{} (pid {})", server.url(), server.pid());
/// ```
#[derive(Debug)]
pub struct ServerProcess {
    child: std::process::Child,
    addr: String,
}

impl ServerProcess {
    /// How long a server may take to print its address.
    pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

    /// Starts `command` and waits for its `listening on` line.
    ///
    /// # Errors
    /// When it cannot start, exits first, prints something else, or stays
    /// silent for [`STARTUP_TIMEOUT`](Self::STARTUP_TIMEOUT).
    pub fn spawn(mut command: std::process::Command) -> std::io::Result<Self> {
        use std::io::{BufRead, BufReader, Error};
        let program = command.get_program().to_string_lossy().into_owned();
        // Its stdin stays open as long as this handle: a server started with
        // `--until-stdin-closes` exits when its starter dies, killed or not.
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| Error::new(e.kind(), format!("cannot start {program}: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::other("no stdout"))?;
        let (first_line, line) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut first = String::new();
            let _ = first_line.send(stdout.read_line(&mut first).map(|_| first));
            // Keep draining, so a chatty server never blocks on a full pipe.
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        // On every way out but success the child is killed and reaped.
        let mut stop = |error: Error| {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            Error::new(error.kind(), format!("{error} ({status})"))
        };
        let first = match line.recv_timeout(Self::STARTUP_TIMEOUT) {
            Ok(Ok(first)) => first,
            Ok(Err(e)) => {
                return Err(stop(Error::new(
                    e.kind(),
                    format!("cannot read {program}'s stdout: {e}"),
                )));
            }
            Err(_) => String::new(),
        };
        let Some(addr) = first.trim().strip_prefix(LISTENING_ON) else {
            return Err(stop(Error::other(format!(
                "{program} did not print `listening on HOST:PORT` first (printed {:?})",
                first.trim()
            ))));
        };
        let addr = addr.to_owned();
        Ok(Self { child, addr })
    }

    /// `exe serve --test-mode` on a free loopback port with the rate limits
    /// [lifted](crate::server::RateLimitConfig::LIFTED), as `ws-harness load`
    /// starts it, then `more_flags` (e.g. `--replay-ttl=1s`). With
    /// `--until-stdin-closes` it exits when this process does, even killed.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn).
    #[cfg(feature = "server")]
    pub fn serve_for_load(exe: &std::path::Path, more_flags: &[&str]) -> std::io::Result<Self> {
        Self::spawn(Self::serve_for_load_command(exe, more_flags))
    }

    /// The command [`serve_for_load`](Self::serve_for_load) starts, to
    /// start it another way (e.g. under a profiler).
    ///
    /// ```
    /// use ws_harness::process::ServerProcess;
    /// let command = ServerProcess::serve_for_load_command("ws-harness".as_ref(), &["--idle-exit=1s"]);
    /// assert!(command.get_args().any(|arg| arg == "--idle-exit=1s"));
    /// ```
    #[cfg(feature = "server")]
    #[must_use]
    pub fn serve_for_load_command(
        exe: &std::path::Path,
        more_flags: &[&str],
    ) -> std::process::Command {
        let lifted = crate::server::RateLimitConfig::LIFTED;
        let mut command = std::process::Command::new(exe);
        command
            .args(["serve", "--test-mode", "--listen", "127.0.0.1:0"])
            .arg("--until-stdin-closes")
            .arg(format!("--message-rate={}", lifted.messages_per_second))
            .arg(format!("--message-burst={}", lifted.message_burst))
            .arg(format!(
                "--connection-rate={}",
                lifted.connections_per_second
            ))
            .arg(format!("--connection-burst={}", lifted.connection_burst))
            .args(more_flags)
            .env("RUST_LOG", "warn");
        command
    }

    /// `HOST:PORT` it listens on.
    #[must_use]
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// `ws://HOST:PORT/ws`.
    ///
    /// # Panics
    /// Never for an address a server printed (`HOST:PORT`).
    #[must_use]
    pub fn url(&self) -> Url {
        format!("ws://{}/ws", self.addr)
            .parse()
            .expect("HOST:PORT makes a URL")
    }

    /// Waits until it exits by itself (e.g. `serve --idle-exit`), at most
    /// `timeout`; then it is killed and that is an error.
    ///
    /// # Errors
    /// When it is still running after `timeout`, or waiting fails.
    pub fn wait(mut self, timeout: Duration) -> std::io::Result<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if std::time::Instant::now() >= deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the server did not exit within {timeout:?}; killed it"),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
