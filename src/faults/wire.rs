//! WebSocket frames on the wire (RFC 6455 §5.2), as the proxy reads them
//! from a byte stream it passes on: headers parsed and written back, and
//! payloads unmasked and masked, without a WebSocket library's checks or
//! its answers to pings.

/// The opcodes the proxy tells apart.
pub(super) mod opcode {
    pub(crate) const TEXT: u8 = 0x1;
    pub(crate) const BINARY: u8 = 0x2;
    pub(crate) const CLOSE: u8 = 0x8;
    pub(crate) const PONG: u8 = 0xA;
    /// Reserved for further non-control frames: no endpoint may accept it.
    pub(crate) const RESERVED: u8 = 0x3;
}

/// A frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    /// The first byte: FIN, RSV1-3 and the opcode.
    pub(super) first: u8,
    pub(super) mask: Option<[u8; 4]>,
    pub(super) payload_len: u64,
    /// How many bytes the header took on the wire.
    pub(super) len: usize,
}

impl Header {
    /// The header at the start of `buf`, or `None` while it is incomplete.
    pub(super) fn parse(buf: &[u8]) -> Option<Header> {
        let (&first, rest) = buf.split_first()?;
        let (&second, rest) = rest.split_first()?;
        let (payload_len, extended) = match second & 0x7F {
            126 => (
                u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
                2,
            ),
            127 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 8),
            short => (u64::from(short), 0),
        };
        let masked = second & 0x80 != 0;
        let mask = if masked {
            Some(rest.get(extended..extended + 4)?.try_into().ok()?)
        } else {
            None
        };
        Some(Header {
            first,
            mask,
            payload_len,
            len: 2 + extended + if masked { 4 } else { 0 },
        })
    }

    /// A final, unfragmented header of `opcode` for `payload_len` bytes.
    pub(super) fn new(opcode: u8, mask: Option<[u8; 4]>, payload_len: u64) -> Header {
        let extended = match payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        Header {
            first: 0x80 | opcode,
            mask,
            payload_len,
            len: 2 + extended + if mask.is_some() { 4 } else { 0 },
        }
    }

    pub(super) fn opcode(&self) -> u8 {
        self.first & 0x0F
    }

    pub(super) fn fin(&self) -> bool {
        self.first & 0x80 != 0
    }

    /// The header as the wire writes it.
    pub(super) fn to_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        out.push(self.first);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        match self.payload_len {
            // The casts cannot truncate: each arm bounds the length.
            len @ 0..=125 => out.push(mask_bit | len as u8),
            len @ 126..=0xFFFF => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
        }
        if let Some(mask) = self.mask {
            out.extend_from_slice(&mask);
        }
        out
    }
}

/// Masks or unmasks `payload` in place (the same operation).
pub(super) fn apply_mask(payload: &mut [u8], mask: Option<[u8; 4]>) {
    if let Some(mask) = mask {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
}

/// A whole frame: header and (unmasked) payload, written back masked as it
/// came.
pub(super) fn frame_bytes(header: Header, payload: &[u8]) -> Vec<u8> {
    let mut out = header.to_bytes();
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], header.mask);
    out
}

/// A close frame with `code` and `reason`, masked when `masked` (as a
/// client's must be).
pub(super) fn close_frame(code: u16, reason: &str, masked: bool) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    // A close frame's payload is at most 125 bytes.
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    payload.extend_from_slice(reason);
    let mask = masked.then(|| fastrand::u32(..).to_be_bytes());
    frame_bytes(
        Header::new(opcode::CLOSE, mask, payload.len() as u64),
        &payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_at_every_length_form() {
        for (len, mask) in [(5, None), (126, Some([1, 2, 3, 4])), (70_000, None)] {
            let header = Header::new(opcode::TEXT, mask, len);
            let bytes = header.to_bytes();
            assert_eq!(bytes.len(), header.len);
            assert_eq!(Header::parse(&bytes), Some(header));
            assert_eq!(Header::parse(&bytes[..bytes.len() - 1]), None);
        }
    }

    #[test]
    fn a_masked_frame_unmasks_to_its_payload() {
        let header = Header::new(opcode::TEXT, Some([9, 8, 7, 6]), 5);
        let bytes = frame_bytes(header, b"hello");
        assert_ne!(&bytes[header.len..], b"hello");
        let mut payload = bytes[header.len..].to_vec();
        apply_mask(&mut payload, header.mask);
        assert_eq!(payload, b"hello");
    }

    #[test]
    fn a_close_frame_carries_its_code() {
        let bytes = close_frame(4001, "gone", false);
        assert_eq!(bytes, [0x88, 6, 0x0F, 0xA1, b'g', b'o', b'n', b'e']);
    }
}
