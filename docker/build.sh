#!/usr/bin/env bash
# Builds the reference server's image by hand (the container tier builds it
# itself on first use): a statically linked server in an image FROM scratch,
# tagged `ws-harness:<version>-<hash of its sources>`. Needs Rust and a Docker
# engine; pulls nothing. Prints the image's name.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --release -- image
