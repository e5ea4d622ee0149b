//! Small media files for upload tests.

use base64::Engine;

/// A small baseline JPEG (8×8 grey): SOI, JFIF, quantisation and Huffman tables, SOF0,
/// one scan, EOI.
pub fn jpeg(variant: u8) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8];
    b.extend([
        0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
    ]);
    b.extend([0xFF, 0xDB, 0x00, 0x43, 0x00]);
    b.extend(std::iter::repeat_n(variant.max(1), 64));
    b.extend([
        0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00,
    ]);
    for class in [0x00u8, 0x10] {
        b.extend([0xFF, 0xC4, 0x00, 0x14, class, 0x01]);
        b.extend([0u8; 15]);
        b.push(0x00);
    }
    b.extend([
        0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x3F, 0xFF, 0xD9,
    ]);
    b
}

pub fn amr() -> Vec<u8> {
    let mut b = b"#!AMR\n".to_vec();
    for _ in 0..50 {
        b.push(0x3C);
        b.extend([0x55u8; 31]);
    }
    b
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
