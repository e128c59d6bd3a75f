//! The server's reading of a client's text frame: any text, no panic, and
//! the fast path for a plain `user_message` decides as the general one.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    ws_harness::fuzzing::client_message_paths_agree(text);
});
