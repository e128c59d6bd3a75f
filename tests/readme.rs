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
