//! The server-sent events of a model's answer, read from its body's bytes
//! (the WHATWG event stream format: `event:` and `data:` lines, an event
//! ended by a blank line, lines ended by LF, CRLF or CR, comments after
//! `:`). Written here rather than taken from a general parser because it
//! runs for every token of every answer: it splits lines with a byte
//! search, keeps no copy of a line, and hands out every event a chunk
//! holds at once.

/// One event: its type (`message` when the stream names none) and its
/// data lines, joined by LF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// What the reader keeps between chunks.
#[derive(Debug, Default)]
pub struct SseReader {
    /// Bytes of a line not ended yet.
    partial: Vec<u8>,
    event: String,
    data: String,
    /// Some data line was read for the event being built (an event with
    /// no data is not handed out, as the format says).
    has_data: bool,
    /// The last chunk ended with CR: a LF starting the next one belongs to
    /// the same line end.
    after_cr: bool,
    /// Past the stream's first bytes (where a byte order mark is dropped).
    started: bool,
}

impl SseReader {
    /// Reads `chunk`, adding the events it completes to `out`. A line that
    /// is not UTF-8 is an error, and the stream is not to be read further.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), String> {
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(tail) = rest.strip_prefix(b"\n") {
                rest = tail;
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (line, tail) = rest.split_at(end);
            rest = match tail {
                [b'\r', b'\n', more @ ..] => more,
                [b'\r'] => {
                    self.after_cr = true;
                    &[]
                }
                [_, more @ ..] => more,
                [] => &[],
            };
            if self.partial.is_empty() {
                self.line(line, out)?;
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(&whole, out)?;
            }
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), String> {
        let mut line = std::str::from_utf8(line).map_err(|_| "a line of the event stream is not UTF-8".to_string())?;
        if !self.started {
            self.started = true;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id` and `retry` matter to a browser reconnecting, not here.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if std::mem::take(&mut self.has_data) {
            let event = if event.is_empty() { "message".to_string() } else { event };
            out.push(SseEvent { event, data });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]]) -> Result<Vec<(String, String)>, String> {
        let mut reader = SseReader::default();
        let mut out = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, &mut out)?;
        }
        Ok(out.into_iter().map(|e| (e.event, e.data)).collect())
    }

    fn ev(event: &str, data: &str) -> (String, String) {
        (event.to_string(), data.to_string())
    }

    #[test]
    fn events_whole_or_cut_anywhere_read_the_same() {
        let stream =
            "\u{feff}: a comment\nevent: content_block_delta\ndata: {\"a\":1}\n\ndata: one\r\ndata:two\r\n\r\n\
                      data: x\r\rdata: [DONE]\n\nevent: ping\n\n";
        let expected = vec![
            ev("content_block_delta", "{\"a\":1}"),
            ev("message", "one\ntwo"),
            ev("message", "x"),
            ev("message", "[DONE]"),
        ];
        assert_eq!(read(&[stream.as_bytes()]).unwrap(), expected, "whole");
        let bytes = stream.as_bytes();
        for cut in 0..bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(read(&[a, b]).unwrap(), expected, "cut at byte {cut}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(read(&singles).unwrap(), expected, "a byte at a time");
    }

    #[test]
    fn an_event_without_its_blank_line_or_data_is_not_handed_out() {
        assert_eq!(read(&[b"event: ping\n\ndata: cut short"]).unwrap(), vec![]);
        assert_eq!(read(&[b"data\n\n"]).unwrap(), vec![ev("message", "")], "a bare `data` field is empty data");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_an_error() {
        assert!(read(&[b"data: \xff\xfe\n\n"]).is_err());
        // A character cut between chunks is not.
        let text = "data: é\n\n".as_bytes();
        assert_eq!(read(&[&text[..7], &text[7..]]).unwrap(), vec![ev("message", "é")]);
    }
}
