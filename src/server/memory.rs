//! Giving the system back what departed users left in the allocator.
//!
//! glibc's allocator keeps freed memory in its arenas for reuse and returns
//! it only from the top of a heap, so after a wave of users is forgotten the
//! pages they used stay resident, scattered below what is still live. The
//! server asks for them back after each sweep that forgot someone, on
//! tokio's blocking pool.

/// Returns the free pages of every glibc arena to the system
/// (`malloc_trim(0)`); elsewhere (musl, macOS, Windows) it does nothing,
/// as their allocators have no such call. glibc locks each arena while it
/// walks it and takes milliseconds, so this runs only after a sweep that
/// forgot users, off the server's tasks.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "malloc_trim is a foreign function")]
pub(super) fn give_back_freed() {
    // SAFETY: malloc_trim takes no pointers and touches only glibc's own
    // free lists, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Returns the free pages of every glibc arena to the system
/// (`malloc_trim(0)`); elsewhere (musl, macOS, Windows) it does nothing,
/// as their allocators have no such call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(super) fn give_back_freed() {}
