//! The client's close tap: frames of any kinds and lengths, read in pieces
//! of any sizes, leave it holding the payload of the last close frame (the
//! first 125 bytes), whatever came before; and no byte stream panics it.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Frame {
    opcode: u8,
    fin: bool,
    /// A masking key, when the frame is masked.
    mask: Option<[u8; 4]>,
    payload: Vec<u8>,
    /// Written with a longer length form than it needs.
    long_form: bool,
}

#[derive(Debug, Arbitrary)]
struct Input {
    frames: Vec<Frame>,
    pieces: Vec<usize>,
    /// Any bytes after the frames: whatever a broken server sends.
    tail: Vec<u8>,
}

fn encode(frame: &Frame, out: &mut Vec<u8>) {
    out.push(u8::from(frame.fin) << 7 | frame.opcode & 0x0f);
    let mask_bit = if frame.mask.is_some() { 0x80 } else { 0 };
    let len = frame.payload.len();
    if len < 126 && !frame.long_form {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff && !(frame.long_form && len < 126) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match frame.mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(
                frame
                    .payload
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[i % 4]),
            );
        }
        None => out.extend_from_slice(&frame.payload),
    }
}

fuzz_target!(|input: Input| {
    let mut stream = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n".to_vec();
    for frame in &input.frames {
        encode(frame, &mut stream);
    }
    let expected = input
        .frames
        .iter()
        .rev()
        .find(|frame| frame.opcode & 0x0f == 0x8)
        .map(|frame| frame.payload[..frame.payload.len().min(125)].to_vec());
    let kept = ws_harness::fuzzing::close_tap_last_close(&stream, &input.pieces);
    assert_eq!(kept, expected, "{input:?}");
    // Whatever follows, nothing panics.
    stream.extend_from_slice(&input.tail);
    let _ = ws_harness::fuzzing::close_tap_last_close(&stream, &input.pieces);
});
