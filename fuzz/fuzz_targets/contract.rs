//! A contract file (JSON Schema or AsyncAPI, JSON or YAML): any document
//! loads or fails with an error; a loaded contract checks frames without
//! panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use std::path::PathBuf;
use std::sync::LazyLock;
use ws_harness::Contract;
use ws_harness::config::{ContractSettings, ContractSource};

static DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("ws-harness-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
});

fuzz_target!(|input: (bool, &[u8])| {
    let (yaml, document) = input;
    let path = DIR.join(if yaml {
        "contract.yaml"
    } else {
        "contract.json"
    });
    std::fs::write(&path, document).unwrap();
    let mut settings = ContractSettings::default();
    settings.source = ContractSource::File(path);
    match Contract::load(&settings, &["agent_started"]) {
        Ok(contract) => {
            let mut stream = contract.stream(Some("alice".to_owned()));
            for frame in [
                json!({"type": "agent_started", "event_id": 1}),
                json!("text"),
                json!({}),
            ] {
                let _ = stream.check(&frame, &frame.to_string());
            }
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
