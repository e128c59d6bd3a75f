//! The README and docs/ say what the code does: the first rstest example is the file
//! the example crate runs, and its two commands are the documented ones.

const README: &str = include_str!("../README.md");

#[test]
fn the_first_rust_example_is_the_example_crates_test() {
    let example = include_str!("../fixtures/readme-example/tests/readme.rs");
    let first_block = README
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a rust block in the README");
    assert!(
        first_block.contains("#[rstest]"),
        "the first rust block is the rstest example"
    );
    assert_eq!(
        first_block, example,
        "README and fixtures/readme-example/tests/readme.rs differ"
    );
}

#[test]
fn the_two_commands_are_check_and_test() {
    let section = README
        .split("## The two commands")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let commands: Vec<&str> = section
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().trim())
        .collect();
    assert_eq!(commands, ["cargo run --release -- check", "cargo test"]);
}

/// docs/mock.md's `MockServer` example is compiled as a doc test of
/// `ws_harness::mock`: the two say the same, line for line.
#[test]
fn the_mock_example_is_the_mock_modules_compiled_doc_test() {
    let block = include_str!("../docs/mock.md")
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a rust block in the MockServer section");
    let doc: String = include_str!("../src/mock/mod.rs")
        .split("//! ```no_run\n")
        .nth(1)
        .and_then(|rest| rest.split("//! ```").next())
        .expect("the module's no_run example")
        .lines()
        .map(|line| {
            let line = line.strip_prefix("//!").unwrap();
            line.strip_prefix(' ').unwrap_or(line)
        })
        .filter(|line| !line.starts_with("# "))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(block, doc, "docs/mock.md and src/mock/mod.rs differ");
}

/// The README's line for a service on aws-lc-rs is the one the fixture
/// crate of such a service uses (`version` there, `path` here).
#[test]
fn the_aws_lc_rs_line_is_the_fixture_crates() {
    let manifest = include_str!("../fixtures/service-aws-lc-rs/Cargo.toml");
    let features = |text: &str| -> String {
        let line = text
            .lines()
            .find(|l| l.contains("tls-aws-lc-rs") && l.contains("ws-harness = {"))
            .expect("a ws-harness line with tls-aws-lc-rs");
        line.split_once("default-features")
            .expect("default-features on the line")
            .1
            .to_owned()
    };
    assert_eq!(features(README), features(manifest));
}

/// docs/layout.md's layout names every file under `src/` (a folder's line
/// stands for its `mod.rs`), and no file that is not there.
#[test]
fn the_layout_names_every_source_file_and_only_those() {
    use std::collections::BTreeSet;
    let block = include_str!("../docs/layout.md")
        .split("```\nsrc/\n")
        .nth(1)
        .and_then(|rest| rest.split("\ncli/").next())
        .expect("the layout block");
    let mut named = BTreeSet::new();
    let mut folders: Vec<(usize, String)> = vec![(0, "src/".to_owned())];
    for line in block.lines() {
        let indent = line.len() - line.trim_start().len();
        let name = line.split_whitespace().next().expect("a name on each line");
        while folders
            .last()
            .is_some_and(|(at, _)| *at >= indent && *at > 0)
        {
            folders.pop();
        }
        let path = format!("{}{name}", folders.last().expect("src/").1);
        if name.ends_with('/') {
            named.insert(format!("{path}mod.rs"));
            folders.push((indent, path));
        } else {
            named.insert(path);
        }
    }
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.insert(path.to_str().unwrap().replace('\\', "/"));
            }
        }
    }
    let mut files = BTreeSet::new();
    walk(std::path::Path::new("src"), &mut files);
    let missing: Vec<_> = files.difference(&named).collect();
    let stale: Vec<_> = named.difference(&files).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/layout.md: not named {missing:?}; named but absent {stale:?}"
    );
}

/// The README's settings example is a config file that builds.
#[test]
fn the_settings_example_builds() {
    let example = README
        .split("### Settings")
        .nth(1)
        .and_then(|section| section.split("```toml\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("a toml block in the Settings section");
    let path = std::env::temp_dir().join(format!(
        "ws-harness-readme-settings-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, example).unwrap();
    let env = std::collections::HashMap::from([(
        "WS_HARNESS_CONFIG".to_owned(),
        path.to_str().unwrap().to_owned(),
    )]);
    let config = ws_harness::RealWebSocketTestConfig::builder()
        .environment(env)
        .build();
    std::fs::remove_file(&path).unwrap();
    let config = config.unwrap();
    assert_eq!(config.event_timeout, std::time::Duration::from_secs(5));
    assert_eq!(config.service.port, 8080);
}
