//! Finding the content of a system prompt that changes from call to call.
//!
//! Three sources, in this order of authority:
//! 1. [`StaticContent`](crate::StaticContent) named by the application: all
//!    text outside those passages is volatile.
//! 2. Markers the application writes around volatile spans (by default
//!    `<dynamic>…</dynamic>`): the span, markers included, moves.
//! 3. Detectors (ISO dates and times, UUIDs, custom regexes): the whole
//!    line holding a match moves, so the value keeps its label
//!    (`Current time: 2026-11-23T14:09:06Z` moves as one line).
//!
//! What stays is the original text with those spans cut out, byte for byte.

use regex::Regex;

/// The text that stays in place and the pieces that move behind the prefix.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    /// The text without its volatile spans.
    pub kept: String,
    /// The volatile pieces, in the order they appeared.
    pub moved: Vec<String>,
}

/// Markers around volatile spans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Markers {
    /// Opens a volatile span.
    pub open: String,
    /// Closes it.
    pub close: String,
}

impl Default for Markers {
    fn default() -> Self {
        Markers {
            open: "<dynamic>".into(),
            close: "</dynamic>".into(),
        }
    }
}

/// An ISO 8601 date, optionally with a time and offset; or a bare time with seconds.
/// ASCII classes and word boundaries keep the regex on its fast engines.
pub const DATE_TIME_PATTERN: &str = r"(?-u)\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b|\b\d{2}:\d{2}:\d{2}\b";
/// A UUID in its 8-4-4-4-12 hexadecimal form.
pub const UUID_PATTERN: &str =
    r"(?-u)\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b";

/// Finds volatile spans; built once from the configuration.
#[derive(Clone, Debug, Default)]
pub struct VolatileFinder {
    markers: Option<Markers>,
    detectors: Vec<Regex>,
}

/// A byte range of the text and what moves out of it.
#[derive(Clone, Copy, Debug)]
struct Cut {
    start: usize,
    end: usize,
    moved_start: usize,
    moved_end: usize,
}

impl VolatileFinder {
    /// A finder with these markers and detectors.
    pub fn new(markers: Option<Markers>, detectors: Vec<Regex>) -> Self {
        let markers = markers.filter(|m| !m.open.is_empty() && !m.close.is_empty());
        VolatileFinder { markers, detectors }
    }

    /// Splits `text`; `None` when nothing in it is volatile. Marker spans
    /// come out first; the detectors then run on what is left, so a second
    /// split of the kept text finds nothing more.
    pub fn split(&self, text: &str, statics: &[String]) -> Option<Split> {
        if statics.iter().any(|s| !s.is_empty()) {
            return cut(text, &outside_statics(text, statics));
        }
        // Until no marker pair is left: taking a span out can join two
        // pieces into a new pair (`<dyn` + `<dynamic></dynamic>` +
        // `amic>…</dynamic>`), which a second pass would move.
        let mut marked: Option<Split> = None;
        loop {
            let rest = marked.as_ref().map_or(text, |split| split.kept.as_str());
            let Some(next) = cut(rest, &self.marker_cuts(rest)) else {
                break;
            };
            marked = Some(match marked {
                None => next,
                Some(mut earlier) => {
                    earlier.kept = next.kept;
                    earlier.moved.extend(next.moved);
                    earlier
                }
            });
        }
        let rest = marked.as_ref().map_or(text, |split| split.kept.as_str());
        let detected = cut(rest, &self.detector_cuts(rest));
        match (marked, detected) {
            (None, detected) => detected,
            (Some(marked), None) => Some(marked),
            (Some(mut marked), Some(detected)) => {
                marked.kept = detected.kept;
                marked.moved.extend(detected.moved);
                Some(marked)
            }
        }
    }

    fn marker_cuts(&self, text: &str) -> Vec<Cut> {
        let Some(markers) = &self.markers else {
            return Vec::new();
        };
        // Each close pairs with the nearest open before it (the innermost
        // pair): an open left unclosed earlier (in another block, say)
        // never swallows a whole pair that follows it.
        let mut cuts = Vec::new();
        let mut from = 0;
        while let Some(close) = text[from..].find(&markers.close).map(|at| from + at) {
            let end = close + markers.close.len();
            // A close with no open before it is left as written.
            if let Some(open) = text[from..close].rfind(&markers.open).map(|at| from + at) {
                // The markers move with the span: the model reads what the
                // application wrote, and a second pass sees it as volatile.
                cuts.push(Cut {
                    start: open,
                    end,
                    moved_start: open,
                    moved_end: end,
                });
            }
            from = end;
        }
        cuts
    }

    /// Whole lines holding a detector match, merged.
    fn detector_cuts(&self, text: &str) -> Vec<Cut> {
        let mut lines: Vec<(usize, usize)> = Vec::new();
        for detector in &self.detectors {
            for found in detector.find_iter(text) {
                let start = text[..found.start()].rfind('\n').map_or(0, |at| at + 1);
                let end = text[found.end()..]
                    .find('\n')
                    .map_or(text.len(), |at| found.end() + at);
                lines.push((start, end));
            }
        }
        lines.sort_unstable();
        let mut cuts: Vec<Cut> = Vec::new();
        for (start, end) in lines {
            match cuts.last_mut() {
                Some(last) if start <= last.end => last.end = last.end.max(end),
                _ => cuts.push(Cut {
                    start,
                    end,
                    moved_start: start,
                    moved_end: end,
                }),
            }
        }
        for cut in &mut cuts {
            cut.moved_end = cut.end;
            // The line's newline goes with it.
            if text.as_bytes().get(cut.end) == Some(&b'\n') {
                cut.end += 1;
            }
        }
        cuts
    }
}

/// `text` without `cuts` (sorted, disjoint) and the pieces they move.
fn cut(text: &str, cuts: &[Cut]) -> Option<Split> {
    if cuts.is_empty() {
        return None;
    }
    let mut kept = String::with_capacity(text.len());
    let mut moved = Vec::with_capacity(cuts.len());
    let mut from = 0;
    for cut in cuts {
        kept.push_str(&text[from..cut.start]);
        let piece = &text[cut.moved_start..cut.moved_end];
        if !piece.trim().is_empty() {
            moved.push(piece.to_owned());
        }
        from = cut.end;
    }
    kept.push_str(&text[from..]);
    Some(Split { kept, moved })
}

/// Everything outside the named static passages that is not whitespace.
fn outside_statics(text: &str, statics: &[String]) -> Vec<Cut> {
    let mut covered: Vec<(usize, usize)> = statics
        .iter()
        .filter(|s| !s.is_empty())
        .flat_map(|s| {
            text.match_indices(s.as_str())
                .map(|(at, s)| (at, at + s.len()))
        })
        .collect();
    covered.sort_unstable();
    let mut cuts = Vec::new();
    let mut from = 0;
    for (start, end) in covered.into_iter().chain([(text.len(), text.len())]) {
        if start > from && !text[from..start].trim().is_empty() {
            cuts.push(Cut {
                start: from,
                end: start,
                moved_start: from,
                moved_end: start,
            });
        }
        from = from.max(end);
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn finder() -> VolatileFinder {
        VolatileFinder::new(
            Some(Markers::default()),
            vec![
                Regex::new(DATE_TIME_PATTERN).unwrap(),
                Regex::new(UUID_PATTERN).unwrap(),
            ],
        )
    }

    #[test]
    fn markers_move_their_content_and_leave_the_rest_byte_for_byte() {
        let split = finder()
            .split("You are X.\n<dynamic>User: ann</dynamic>\nRules.", &[])
            .unwrap();
        assert_eq!(split.kept, "You are X.\n\nRules.");
        assert_eq!(split.moved, ["<dynamic>User: ann</dynamic>"]);
    }

    #[test]
    fn detected_values_move_with_their_line() {
        let text = "Current time: 2026-11-23T14:09:06Z\nRequest 3f2b8c1e-1d2a-4b5c-9d8e-0a1b2c3d4e5f\nYou are an agent.";
        let split = finder().split(text, &[]).unwrap();
        assert_eq!(split.kept, "You are an agent.");
        assert_eq!(
            split.moved,
            [
                "Current time: 2026-11-23T14:09:06Z",
                "Request 3f2b8c1e-1d2a-4b5c-9d8e-0a1b2c3d4e5f"
            ]
        );
    }

    #[test]
    fn a_pair_formed_by_taking_a_span_out_is_taken_out_too() {
        // Found by fuzzing: the kept text must hold no marker pair, or a
        // second pass moves more and the prefix changes.
        let split = finder()
            .split("<dynam<dynamic></dynamic>ic></dynamic>l", &[])
            .unwrap();
        assert_eq!(split.kept, "l");
        assert!(finder().split(&split.kept, &[]).is_none());
    }

    #[test]
    fn an_unclosed_open_never_swallows_a_later_pair() {
        let split = finder()
            .split("Now<dynamic>u 2026-11-23T10:00\n<dynamic>u</dynamic>", &[])
            .unwrap();
        assert_eq!(split.kept.trim(), "", "{split:?}");
        let nested = finder()
            .split("a<dynamic>b<dynamic>c</dynamic>d</dynamic>e", &[])
            .unwrap();
        assert_eq!(nested.kept, "ae");
    }

    #[test]
    fn unclosed_markers_and_plain_text_are_left_alone() {
        assert_eq!(finder().split("<dynamic>open forever", &[]), None);
        assert_eq!(finder().split("no dates here, version 1.2.3", &[]), None);
    }

    #[test]
    fn named_static_content_keeps_only_itself() {
        let statics = vec!["You are an agent.".to_owned()];
        let split = finder()
            .split("Session 42 for ann.\nYou are an agent.\n", &statics)
            .unwrap();
        assert_eq!(split.kept, "You are an agent.\n");
        assert_eq!(split.moved, ["Session 42 for ann.\n"]);
    }

    proptest! {
        /// Nothing is lost: every byte of the text is kept or moved, and a
        /// volatile value never changes what stays.
        #[test]
        fn kept_text_does_not_depend_on_volatile_values(
            head in "[a-zA-Z .\n]{0,40}",
            tail in "[a-zA-Z .\n]{0,40}",
            a in (2000u32..2100, 1u32..13, 1u32..29),
            b in (2000u32..2100, 1u32..13, 1u32..29),
        ) {
            let date = |(y, m, d): (u32, u32, u32)| format!("{y:04}-{m:02}-{d:02}");
            let first = format!("{head}\nToday: {}\n{tail}", date(a));
            let second = format!("{head}\nToday: {}\n{tail}", date(b));
            let one = finder().split(&first, &[]).unwrap();
            let two = finder().split(&second, &[]).unwrap();
            prop_assert_eq!(&one.kept, &two.kept);
            let moved_len: usize = one.moved.iter().map(String::len).sum();
            prop_assert!(one.kept.len() + moved_len <= first.len());
            prop_assert!(one.moved.iter().any(|piece| piece.contains(&date(a))));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}", open in "[<>a-z/]{0,4}") {
            let finder = VolatileFinder::new(
                Some(Markers { open: open.clone(), close: format!("/{open}") }),
                vec![Regex::new(DATE_TIME_PATTERN).unwrap()],
            );
            if let Some(split) = finder.split(&text, &[]) {
                prop_assert!(split.kept.len() <= text.len());
            }
        }
    }
}
