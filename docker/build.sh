#!/usr/bin/env bash
# Builds the statically linked server and the `ws-harness:<version>` image
# FROM scratch. Needs Rust and a Docker engine; pulls nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-gnu
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
image="ws-harness:${version}"

# --target keeps build scripts and proc-macros dynamic; only the server is static.
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" -p ws-harness-cli --bin ws-harness

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "target/$target/release/ws-harness" "$context/ws-harness"
cp docker/Dockerfile "$context/Dockerfile"
# The classic builder needs no buildx plugin and pulls nothing for FROM scratch.
DOCKER_BUILDKIT=0 docker build --quiet --tag "$image" "$context" >/dev/null
echo "built $image"
