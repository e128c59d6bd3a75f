//! [`CloseTap`]: the close frame a peer sent, as it was sent.
//!
//! tungstenite hands a client a close with an invalid code (999, 1005,
//! 5000) as `1002 Protocol violation`, and one with a 1-byte payload or a
//! reason that is not UTF-8 as a bare protocol error. A failure must say
//! what the service sent, so the client's stream is read through a tap that
//! follows the frame headers (payloads are skipped by length, not copied)
//! and keeps the payload of the last close frame.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The longest payload a control frame may carry (RFC 6455 §5.5).
const CONTROL_PAYLOAD: usize = 125;

/// The opcode of a close frame.
const CLOSE_OPCODE: u8 = 0x8;

/// The close frame a peer sent: its code and reason as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerClose {
    payload: Vec<u8>,
}

impl PeerClose {
    /// The close code, when the payload has one.
    pub(crate) fn code(&self) -> Option<u16> {
        match self.payload.as_slice() {
            [high, low, ..] => Some(u16::from_be_bytes([*high, *low])),
            _ => None,
        }
    }

    /// The payload as sent (the first 125 bytes).
    #[cfg(fuzzing)]
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Whether RFC 6455 allows this frame: no payload, or a code a peer may
    /// send followed by a UTF-8 reason.
    pub(crate) fn is_valid(&self) -> bool {
        match self.payload.as_slice() {
            [] => true,
            [_] => false,
            [high, low, reason @ ..] => {
                CloseCode::from(u16::from_be_bytes([*high, *low])).is_allowed()
                    && std::str::from_utf8(reason).is_ok()
            }
        }
    }
}

impl fmt::Display for PeerClose {
    /// `close 999 "bye" (999 is not a close code a peer may send, RFC 6455 §7.4)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(code) = self.code() else {
            return match self.payload.len() {
                0 => write!(f, "close without a code"),
                _ => write!(
                    f,
                    "close with a 1-byte payload (a close payload is empty or starts with a 2-byte code, RFC 6455 §5.5.1)"
                ),
            };
        };
        let reason = &self.payload[2..];
        write!(f, "close {code} {:?}", String::from_utf8_lossy(reason))?;
        if !CloseCode::from(code).is_allowed() {
            write!(
                f,
                " ({code} is not a close code a peer may send, RFC 6455 §7.4)"
            )?;
        } else if std::str::from_utf8(reason).is_err() {
            write!(f, " (the reason is not UTF-8, RFC 6455 §5.5.1)")?;
        }
        Ok(())
    }
}

/// The end of the HTTP response to the handshake: frames follow it.
const HANDSHAKE_END: &[u8] = b"\r\n\r\n";

/// Where the tap is in the peer's byte stream.
#[derive(Debug)]
enum Scan {
    /// In the HTTP response to the handshake: `matched` bytes of its end.
    Handshake { matched: usize },
    /// Reading a frame header: `have` of its bytes so far.
    Header { bytes: [u8; 14], have: usize },
    /// Skipping `left` payload bytes; a close frame's are kept.
    Payload {
        left: u64,
        close: Option<Vec<u8>>,
        mask: Option<[u8; 4]>,
        at: usize,
    },
}

/// A stream read through a tap that remembers the last close frame the
/// peer sent. Writes pass through untouched.
#[derive(Debug)]
pub struct CloseTap<S> {
    inner: S,
    scan: Scan,
    last_close: Option<PeerClose>,
}

impl<S> CloseTap<S> {
    /// Taps the peer's side of `inner`, a connection whose handshake
    /// response comes first.
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            scan: Scan::Handshake { matched: 0 },
            last_close: None,
        }
    }

    /// The last close frame the peer sent, complete.
    pub(crate) fn last_close(&self) -> Option<&PeerClose> {
        self.last_close.as_ref()
    }

    /// Follows the frames in `data`, the next bytes the peer sent.
    pub(crate) fn scan(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match &mut self.scan {
                Scan::Handshake { matched } => {
                    *matched = match data[0] {
                        byte if byte == HANDSHAKE_END[*matched] => *matched + 1,
                        b'\r' => 1,
                        _ => 0,
                    };
                    data = &data[1..];
                    if *matched == HANDSHAKE_END.len() {
                        self.scan = Scan::Header {
                            bytes: [0; 14],
                            have: 0,
                        };
                    }
                }
                Scan::Header { bytes, have } => {
                    bytes[*have] = data[0];
                    *have += 1;
                    data = &data[1..];
                    if let Some(next) = header_done(&bytes[..*have]) {
                        self.scan = next;
                        self.finish_if_empty();
                    }
                }
                Scan::Payload {
                    left,
                    close,
                    mask,
                    at,
                } => {
                    let take =
                        usize::try_from(*left).map_or(data.len(), |left| left.min(data.len()));
                    if let Some(kept) = close {
                        let room = CONTROL_PAYLOAD - kept.len();
                        for &byte in data[..take].iter().take(room) {
                            let key = mask.map_or(0, |mask| mask[*at % 4]);
                            kept.push(byte ^ key);
                            *at += 1;
                        }
                    }
                    *left -= take as u64;
                    data = &data[take..];
                    self.finish_if_empty();
                }
            }
        }
    }

    /// Ends a frame whose payload is all read: a close frame is kept.
    fn finish_if_empty(&mut self) {
        if let Scan::Payload { left: 0, close, .. } = &mut self.scan {
            if let Some(payload) = close.take() {
                self.last_close = Some(PeerClose { payload });
            }
            self.scan = Scan::Header {
                bytes: [0; 14],
                have: 0,
            };
        }
    }
}

/// The payload scan a complete frame header starts, or `None` while the
/// header needs more bytes.
fn header_done(header: &[u8]) -> Option<Scan> {
    let [first, second, rest @ ..] = header else {
        return None;
    };
    let masked = second & 0x80 != 0;
    let length_bytes = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask_bytes = if masked { 4 } else { 0 };
    if rest.len() < length_bytes + mask_bytes {
        return None;
    }
    let left = match length_bytes {
        0 => u64::from(second & 0x7f),
        _ => rest[..length_bytes]
            .iter()
            .fold(0, |length, &byte| length << 8 | u64::from(byte)),
    };
    let mask = masked.then(|| {
        let key = &rest[length_bytes..length_bytes + 4];
        [key[0], key[1], key[2], key[3]]
    });
    let close = (first & 0x0f == CLOSE_OPCODE).then(Vec::new);
    Some(Scan::Payload {
        left,
        close,
        mask,
        at: 0,
    })
}

impl<S: AsyncRead + Unpin> AsyncRead for CloseTap<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.scan(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CloseTap<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => bytes.push(n as u8),
            n if n <= 0xffff => {
                bytes.push(126);
                bytes.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                bytes.push(127);
                bytes.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        bytes.extend_from_slice(payload);
        bytes
    }

    fn close(code: u16, reason: &[u8]) -> Vec<u8> {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        frame(CLOSE_OPCODE, &payload)
    }

    /// The stream fed to the tap after a handshake response, in pieces of
    /// `piece` bytes.
    fn tapped(frames: &[u8], piece: usize) -> Option<PeerClose> {
        let mut stream = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n".to_vec();
        stream.extend_from_slice(frames);
        let mut tap = CloseTap::new(());
        for chunk in stream.chunks(piece) {
            tap.scan(chunk);
        }
        tap.last_close
    }

    #[test]
    fn the_close_after_text_binary_and_long_frames_is_kept_whatever_the_read_sizes() {
        let mut stream = frame(0x1, b"{\"type\":\"noise\"}");
        stream.extend(frame(0x2, &vec![0x88; 300]));
        stream.extend(frame(0x1, &vec![b'x'; 70_000]));
        stream.extend(close(999, b"bye"));
        for piece in [1, 2, 3, 7, 4096, stream.len()] {
            let close = tapped(&stream, piece).expect("a close");
            assert_eq!(close.code(), Some(999), "pieces of {piece}");
            assert!(!close.is_valid());
            assert_eq!(
                close.to_string(),
                "close 999 \"bye\" (999 is not a close code a peer may send, RFC 6455 §7.4)"
            );
        }
    }

    /// A close over the control frames' 125 bytes (the peer breaks RFC
    /// 6455 §5.5) is kept to its first 125, whatever the read sizes.
    #[test]
    fn a_close_payload_over_125_bytes_is_kept_to_its_first_125() {
        let reason = vec![b'r'; 300];
        let stream = close(4001, &reason);
        for piece in [1, 7, 100, stream.len()] {
            let close = tapped(&stream, piece).expect("a close");
            assert_eq!(close.payload.len(), 125, "pieces of {piece}");
            assert_eq!(close.code(), Some(4001));
        }
    }

    /// The frames start after the first `\r\n\r\n`, even one that comes
    /// right after a stray `\r`.
    #[test]
    fn the_handshake_ends_at_the_first_blank_line_whatever_comes_before() {
        let mut stream = b"HTTP/1.1 101 Switching Protocols\r\nx: y\r\r\n\r\n".to_vec();
        stream.extend(close(4001, b"going"));
        let mut tap = CloseTap::new(());
        tap.scan(&stream);
        assert_eq!(tap.last_close().and_then(PeerClose::code), Some(4001));
    }

    #[test]
    fn a_close_frame_in_the_payload_of_another_is_not_taken_for_one() {
        let stream = frame(0x1, &close(4000, b"inside"));
        assert_eq!(tapped(&stream, 5), None);
    }

    #[test]
    fn codes_and_payloads_are_judged_as_rfc_6455_does() {
        assert!(tapped(&close(1000, b"done"), 64).unwrap().is_valid());
        assert!(tapped(&close(4000, b""), 64).unwrap().is_valid());
        for code in [999, 1005, 1006, 1015, 5000] {
            assert!(!tapped(&close(code, b""), 64).unwrap().is_valid(), "{code}");
        }
        let bad_utf8 = tapped(&close(1000, &[0xff, 0xfe]), 64).unwrap();
        assert!(!bad_utf8.is_valid());
        assert!(
            bad_utf8
                .to_string()
                .ends_with("(the reason is not UTF-8, RFC 6455 §5.5.1)")
        );
        let one_byte = tapped(&frame(CLOSE_OPCODE, &[3]), 64).unwrap();
        assert_eq!(one_byte.code(), None);
        assert!(!one_byte.is_valid());
        let empty = tapped(&frame(CLOSE_OPCODE, &[]), 64).unwrap();
        assert!(empty.is_valid());
        assert_eq!(empty.to_string(), "close without a code");
    }

    #[test]
    fn a_masked_close_is_unmasked() {
        let key = [1, 2, 3, 4];
        let payload: Vec<u8> = [&1001u16.to_be_bytes()[..], b"away"]
            .concat()
            .iter()
            .enumerate()
            .map(|(i, byte)| byte ^ key[i % 4])
            .collect();
        let mut stream = vec![0x88, 0x80 | payload.len() as u8];
        stream.extend_from_slice(&key);
        stream.extend(payload);
        let close = tapped(&stream, 3).unwrap();
        assert_eq!(close.to_string(), "close 1001 \"away\"");
    }

    #[tokio::test]
    async fn writes_vectored_writes_flushes_and_shutdowns_reach_the_inner_stream() {
        use std::time::Duration;
        use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
        // A buffered inner stream: only a flush passed on lets bytes out.
        // It says what its inner stream says of vectored writes.
        assert!(!CloseTap::new(Unvectored).is_write_vectored());
        let (near, mut far) = tokio::io::duplex(64);
        let mut tap = CloseTap::new(BufWriter::new(near));
        assert!(tap.is_write_vectored());
        tap.write_all(b"hello").await.unwrap();
        let pieces = [io::IoSlice::new(b", "), io::IoSlice::new(b"world")];
        assert_eq!(tap.write_vectored(&pieces).await.unwrap(), 7);
        tap.flush().await.unwrap();
        let mut got = [0; 12];
        tokio::time::timeout(Duration::from_secs(5), far.read_exact(&mut got))
            .await
            .expect("the flushed bytes arrive within 5 s")
            .unwrap();
        assert_eq!(&got, b"hello, world");
        tap.shutdown().await.unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), far.read(&mut got))
            .await
            .expect("the shutdown arrives within 5 s")
            .unwrap();
        assert_eq!(end, 0, "the far side sees the end of the stream");
    }

    /// A sink that does not write vectored (tokio's own streams all do).
    struct Unvectored;

    impl AsyncWrite for Unvectored {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(data.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }
}
