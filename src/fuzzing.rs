//! What the fuzz targets under `fuzz/` call that is not public otherwise;
//! compiled only with `--cfg fuzzing`, which cargo-fuzz sets. Each function
//! panics when the property it checks fails.

use crate::access::close_tap::CloseTap;
use crate::protocol::ClientMessage;

/// [`ClientMessage::parse`] takes a fast path for a plain `user_message`;
/// it must decide every frame exactly as the general path does.
pub fn client_message_paths_agree(text: &str) {
    let fast = ClientMessage::parse(text);
    let general = ClientMessage::parse_any(text);
    assert_eq!(
        format!("{fast:?}"),
        format!("{general:?}"),
        "the paths disagree on {text:?}"
    );
}

/// The close payload [`CloseTap`] keeps from `stream` (a handshake
/// response, then frames) read in pieces of the given sizes (cycled; a
/// zero is read as one byte).
#[must_use]
pub fn close_tap_last_close(stream: &[u8], pieces: &[usize]) -> Option<Vec<u8>> {
    let mut tap = CloseTap::new(());
    let mut rest = stream;
    let mut sizes = pieces.iter().copied().map(|n| n.max(1)).cycle();
    while !rest.is_empty() {
        let take = sizes.next().unwrap_or(rest.len()).min(rest.len());
        tap.scan(&rest[..take]);
        rest = &rest[take..];
    }
    tap.last_close().map(|close| close.payload().to_vec())
}
