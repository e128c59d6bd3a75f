//! Giving the system back what departed users left in the allocator.
//!
//! glibc's allocator keeps freed memory in its arenas for reuse and returns
//! it only from the top of a heap, so after a wave of users is forgotten the
//! pages they used stay resident, scattered below what is still live. The
//! server asks for them back after each sweep that forgot someone.

/// Hands the pages that departed users freed back to the system, off the
/// server's tasks: glibc takes milliseconds to walk its arenas (0.4 to 7 ms
/// measured after sweeps of 1,000 users each), so it runs on tokio's
/// blocking pool, one hand-back at a time. Elsewhere (musl, macOS,
/// Windows) it does nothing, as those allocators have no such call.
#[derive(Debug, Default)]
pub(super) struct PageReturn {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    running: Option<tokio::task::JoinHandle<()>>,
}

impl PageReturn {
    /// Starts a hand-back unless the last one is still going.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub(super) fn start(&mut self) {
        if self
            .running
            .as_ref()
            .is_none_or(tokio::task::JoinHandle::is_finished)
        {
            self.running = Some(tokio::task::spawn_blocking(malloc_trim));
        }
    }

    /// Does nothing: this target's allocator has no call to give pages back.
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub(super) fn start(&mut self) {}
}

/// Returns the free pages of every glibc arena to the system
/// (`malloc_trim(0)`); glibc locks each arena while it walks it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "malloc_trim is a foreign function")]
fn malloc_trim() {
    // SAFETY: malloc_trim takes no pointers and touches only glibc's own
    // free lists, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
