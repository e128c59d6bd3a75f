//! `ws-harness.toml`: any file builds a config or fails with an error that
//! names the file; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::LazyLock;
use ws_harness::RealWebSocketTestConfig;

static FILE: LazyLock<PathBuf> = LazyLock::new(|| {
    std::env::temp_dir().join(format!("ws-harness-fuzz-{}.toml", std::process::id()))
});

fuzz_target!(|text: &[u8]| {
    std::fs::write(&*FILE, text).unwrap();
    let env = HashMap::from([("WS_HARNESS_CONFIG".to_owned(), FILE.display().to_string())]);
    if let Err(error) = RealWebSocketTestConfig::builder().environment(env).build() {
        let message = error.to_string();
        assert!(!message.is_empty());
    }
});
