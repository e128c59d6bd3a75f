//! The README says what the code does: its first rstest example is the file
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

/// The README's `MockServer` example is compiled as a doc test of
/// `ws_harness::mock`: the two say the same, line for line.
#[test]
fn the_mock_example_is_the_mock_modules_compiled_doc_test() {
    let block = README
        .split("### A mock of your service: `MockServer`")
        .nth(1)
        .and_then(|section| section.split("```rust\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .expect("a rust block in the MockServer section");
    let doc: String = include_str!("../src/harness/mock/mod.rs")
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
    assert_eq!(block, doc, "README and src/harness/mock/mod.rs differ");
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
