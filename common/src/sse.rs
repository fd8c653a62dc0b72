//! Server-sent events (the WHATWG `text/event-stream` format): the server writes frames with
//! [`frame`], the SPA and the tests read them back with the incremental [`Parser`].
//!
//! Both sides live here so the one format has one definition. The parser follows the HTML
//! standard's interpretation rules: lines end in LF, CR or CRLF (a CRLF split across two chunks
//! is one line end); a line starting with `:` is a comment; `field: value` loses one leading space;
//! `data` lines join with LF; an empty line dispatches the frame unless its data is empty; `id`
//! sets the last event id (a value holding NUL is ignored) and stays set for later frames; `retry`
//! takes ASCII digits only; unknown fields are ignored.

/// One dispatched frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// The `event` field (`message` when the frame names none).
    pub event: String,
    pub data: String,
    /// The last event id at dispatch (frames without `id` keep the previous one).
    pub id: Option<String>,
}

/// Write one frame. `data` may hold line breaks (each line becomes a `data` line); `id` and `event`
/// must not (the server makes both).
pub fn frame(event: &str, id: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 64);
    if let Some(id) = id {
        debug_assert!(!id.contains(['\n', '\r', '\0']));
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    debug_assert!(!event.contains(['\n', '\r']));
    out.push_str("event: ");
    out.push_str(event);
    out.push('\n');
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// A comment line (heartbeats): readers ignore it, proxies see traffic.
pub fn comment(text: &str) -> String {
    format!(": {text}\n\n")
}

/// The `retry` instruction: how long a client waits before reconnecting, in milliseconds.
pub fn retry(ms: u64) -> String {
    format!("retry: {ms}\n\n")
}

/// An incremental reader: feed it chunks as they arrive, in any split.
#[derive(Debug, Default)]
pub struct Parser {
    line: String,
    /// The previous chunk ended in CR: a LF opening the next one belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    /// The `id` of the frame being read; it becomes the last event id when the frame ends.
    id_buffer: Option<String>,
    last_id: Option<String>,
    retry: Option<u64>,
    /// A chunk was read (a byte-order mark can only open the stream).
    started: bool,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last event id seen (what a reconnect sends as `Last-Event-ID`).
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// The last `retry` the server asked for, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// How many bytes wait for a line end or a frame end (a reader bounds this).
    pub fn buffered(&self) -> usize {
        self.line.len() + self.data.len() + self.event.len()
    }

    /// Read a chunk; returns the frames it completed, in order.
    pub fn feed(&mut self, chunk: &str) -> Vec<Frame> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if self.after_cr && !rest.is_empty() {
            // an empty chunk between CR and LF changes nothing
            self.after_cr = false;
            rest = rest.strip_prefix('\n').unwrap_or(rest);
        }
        if !self.started {
            // a leading byte-order mark is dropped once
            self.started = !rest.is_empty();
            rest = rest.strip_prefix('\u{feff}').unwrap_or(rest);
        }
        while let Some(i) = rest.find(['\n', '\r']) {
            self.line.push_str(&rest[..i]);
            let cr = rest.as_bytes()[i] == b'\r';
            rest = &rest[i + 1..];
            if cr {
                match rest.strip_prefix('\n') {
                    Some(r) => rest = r,
                    None if rest.is_empty() => self.after_cr = true,
                    None => {}
                }
            }
            let line = std::mem::take(&mut self.line);
            if let Some(f) = self.line_done(&line) {
                out.push(f);
            }
        }
        self.line.push_str(rest);
        out
    }

    fn line_done(&mut self, line: &str) -> Option<Frame> {
        if line.is_empty() {
            // the standard commits the id at every blank line, data or not
            self.last_id.clone_from(&self.id_buffer);
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            return Some(Frame {
                event: if event.is_empty() {
                    "message".into()
                } else {
                    event
                },
                data,
                id: self.last_id.clone(),
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match name {
            "event" => self.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => {
                self.id_buffer = (!value.is_empty()).then(|| value.to_owned());
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // digits too many for a number keep the value before
                if let Ok(ms) = value.parse() {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(event: &str, data: &str, id: Option<&str>) -> Frame {
        Frame {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
        }
    }

    #[test]
    fn frames_read_back_in_any_split() {
        let text = frame("appliance", Some("01-a"), "{\"x\":1}")
            + &comment("keep-alive")
            + &frame("event", None, "one\ntwo")
            + &retry(1500);
        let want = vec![
            f("appliance", "{\"x\":1}", Some("01-a")),
            f("event", "one\ntwo", Some("01-a")),
        ];
        // every split point, so no boundary is special
        for cut in 0..=text.len() {
            let mut p = Parser::new();
            let mut got = p.feed(&text[..cut]);
            got.extend(p.feed(""));
            got.extend(p.feed(&text[cut..]));
            assert_eq!(got, want, "split at {cut}");
            assert_eq!(p.retry(), Some(1500));
            assert_eq!(p.last_id(), Some("01-a"));
        }
    }

    #[test]
    fn the_standards_interpretation_rules() {
        type Want<'a> = &'a [(&'a str, &'a str, Option<&'a str>)];
        let cases: &[(&str, Want)] = &[
            // CR, LF and CRLF all end lines
            (
                "data: a\r\rdata: b\n\ndata: c\r\n\r\n",
                &[
                    ("message", "a", None),
                    ("message", "b", None),
                    ("message", "c", None),
                ],
            ),
            // one leading space goes, more stay; no colon is a field without value
            ("data:  x\ndata\n\n", &[("message", " x\n", None)]),
            // no data, no frame (the event name is dropped with it)
            ("event: ping\n\n", &[]),
            // comments and unknown fields are ignored
            (": hi\nfoo: bar\ndata: d\n\n", &[("message", "d", None)]),
            // an id holding NUL is ignored; an empty id clears it
            (
                "id: 1\ndata: a\n\nid: 2\0\ndata: b\n\nid\ndata: c\n\n",
                &[
                    ("message", "a", Some("1")),
                    ("message", "b", Some("1")),
                    ("message", "c", None),
                ],
            ),
            // an unfinished frame is not dispatched
            ("data: half\n", &[]),
            // a leading BOM is dropped
            ("\u{feff}data: b\n\n", &[("message", "b", None)]),
        ];
        for (input, want) in cases {
            let mut p = Parser::new();
            let got = p.feed(input);
            let want: Vec<Frame> = want.iter().map(|(e, d, i)| f(e, d, *i)).collect();
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn retry_takes_digits_only() {
        let mut p = Parser::new();
        p.feed("retry: 12a\n\nretry: -1\n\n");
        assert_eq!(p.retry(), None);
        p.feed("retry: 250\n\n");
        assert_eq!(p.retry(), Some(250));
        p.feed("retry: 99999999999999999999999\n\n");
        assert_eq!(p.retry(), Some(250), "an overflow keeps the value before");
    }

    #[test]
    fn the_last_id_moves_only_when_its_frame_ends() {
        let mut p = Parser::new();
        p.feed("id: 1\ndata: a\n\nid: 2\ndata: b");
        assert_eq!(p.last_id(), Some("1"), "frame 2 is not finished");
        p.feed("\n\n");
        assert_eq!(p.last_id(), Some("2"));
        // a frame without data still commits its id
        p.feed("id: 3\n\n");
        assert_eq!(p.last_id(), Some("3"));
    }

    #[test]
    fn buffered_counts_what_waits() {
        let mut p = Parser::new();
        p.feed("data: abc");
        assert_eq!(p.buffered(), "data: abc".len());
        p.feed("\n");
        assert_eq!(p.buffered(), 3);
        p.feed("\n");
        assert_eq!(p.buffered(), 0);
    }

    #[test]
    fn a_crlf_split_around_an_empty_chunk_is_one_line_end() {
        let mut p = Parser::new();
        let mut got = p.feed("data: a\r");
        got.extend(p.feed(""));
        got.extend(p.feed("\n\r\n"));
        assert_eq!(got, vec![f("message", "a", None)]);
        assert_eq!(p.buffered(), 0);
    }
}
