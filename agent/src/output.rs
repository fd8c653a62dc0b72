//! A job's output: each stream read to its end, its first bytes kept and turned into bounded text.

use common::agent::JOB_OUTPUT_MAX;
use std::io::{ErrorKind, Read};

/// The first bytes of a stream, and whether any were dropped.
#[derive(Default)]
pub(crate) struct Captured {
    pub(crate) bytes: Vec<u8>,
    pub(crate) dropped: bool,
}

/// Reads `stream` to its end, keeping the first [`JOB_OUTPUT_MAX`] bytes.
pub(crate) fn capture(mut stream: impl Read) -> Captured {
    let mut c = Captured::default();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let keep = n.min(JOB_OUTPUT_MAX - c.bytes.len());
                c.bytes.extend_from_slice(&buf[..keep]);
                c.dropped |= keep < n;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    c
}

/// The largest char boundary of `s` at most `i` (`str::floor_char_boundary` is newer than our MSRV).
fn floor_boundary(s: &str, i: usize) -> usize {
    (0..=i.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

/// The captured bytes as text, then `notes`, within [`JOB_OUTPUT_MAX`] bytes cut on a char boundary.
pub(crate) fn text(c: Captured, notes: &str) -> (String, bool) {
    let (mut bytes, mut dropped) = (c.bytes, c.dropped);
    if dropped {
        // Do not turn a character cut in half into U+FFFD.
        let tail = (bytes.len().saturating_sub(3)..bytes.len())
            .rev()
            .find(|&i| bytes[i] & 0xC0 != 0x80);
        if let Some(i) = tail
            && matches!(std::str::from_utf8(&bytes[i..]), Err(e) if e.error_len().is_none())
        {
            bytes.truncate(i);
        }
    }
    let mut s = String::from_utf8_lossy(&bytes).into_owned();
    let reserve = if notes.is_empty() {
        0
    } else {
        notes.len().min(JOB_OUTPUT_MAX / 2) + 1
    };
    let room = JOB_OUTPUT_MAX - reserve;
    if s.len() > room {
        s.truncate(floor_boundary(&s, room));
        dropped = true;
    }
    if !notes.is_empty() && !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s.push_str(notes);
    if s.len() > JOB_OUTPUT_MAX {
        s.truncate(floor_boundary(&s, JOB_OUTPUT_MAX));
        dropped = true;
    }
    (s, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_on_a_char_boundary_and_keeps_the_notes() {
        let mut bytes = b"a".to_vec();
        bytes.extend("é".repeat(JOB_OUTPUT_MAX).as_bytes());
        bytes.truncate(JOB_OUTPUT_MAX); // ends in half an "é"
        let (s, dropped) = text(
            Captured {
                bytes: bytes.clone(),
                dropped: true,
            },
            "",
        );
        assert!(dropped && s.len() == JOB_OUTPUT_MAX - 1 && s.ends_with('é'));
        let (s, _) = text(
            Captured {
                bytes,
                dropped: true,
            },
            "note\n",
        );
        assert!(
            s.len() <= JOB_OUTPUT_MAX && s.ends_with("é\nnote\n"),
            "{}",
            &s[s.len() - 9..]
        );
        let (s, dropped) = text(
            Captured {
                bytes: b"ok\xff".to_vec(),
                dropped: false,
            },
            "",
        );
        assert_eq!((s.as_str(), dropped), ("ok\u{fffd}", false));
    }
}
