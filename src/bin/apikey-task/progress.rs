//! How far a `--jsonl` batch is, on stderr: a bar while it runs when stderr is a terminal, and
//! one closing summary line (counts by outcome, time taken) in any case.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    /// Each outcome's name and count, in the order the summary names them.
    counts: Vec<(&'static str, usize)>,
}

impl Progress {
    /// Whether a bar is drawn: stderr is a terminal.
    pub fn draws() -> bool {
        std::io::stderr().is_terminal()
    }

    /// A batch of `total` lines (when known before it starts) whose records end in one of
    /// `outcomes`.
    pub fn new(total: Option<usize>, outcomes: &[&'static str]) -> Progress {
        let bar = Progress::draws().then(|| {
            let total = total.map(|total| total as u64);
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{bar:30} {pos}/{len} {msg} ({elapsed})"
            } else {
                "{spinner} {pos} lines: {msg} ({elapsed})"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            counts: outcomes.iter().map(|name| (*name, 0)).collect(),
        }
    }

    /// One more record, of this outcome.
    pub fn record(&mut self, outcome: &'static str) {
        if let Some((_, count)) = self.counts.iter_mut().find(|(name, _)| *name == outcome) {
            *count += 1;
        }
        if let Some(bar) = &self.bar {
            bar.set_message(self.tally());
            bar.inc(1);
        }
    }

    /// Writes a record line to `out` (stdout), lifting the bar off the terminal meanwhile so
    /// the two do not mix when both streams are the terminal.
    pub fn print(&self, out: &mut impl Write, text: &[u8]) -> std::io::Result<()> {
        self.print_parts(out, &[text, b"\n"])
    }

    /// [`Progress::print`] for records that each end in a line break already: one write, so
    /// that stdout's line buffering passes them on in one call instead of cutting them at
    /// their last line break and writing the line break alone.
    pub fn print_lines(&self, out: &mut impl Write, lines: &[u8]) -> std::io::Result<()> {
        self.print_parts(out, &[lines])
    }

    fn print_parts(&self, out: &mut impl Write, parts: &[&[u8]]) -> std::io::Result<()> {
        let write = |out: &mut dyn Write| parts.iter().try_for_each(|part| out.write_all(part));
        match &self.bar {
            Some(bar) => bar.suspend(|| {
                write(out)?;
                out.flush()
            }),
            None => write(out),
        }
    }

    /// Clears the bar and prints the summary line.
    pub fn finish(self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let lines: usize = self.counts.iter().map(|(_, count)| count).sum();
        eprintln!(
            "apikey-task: {lines} line{} in {:.2} s: {}",
            if lines == 1 { "" } else { "s" },
            self.started.elapsed().as_secs_f64(),
            self.tally()
        );
    }

    fn tally(&self) -> String {
        self.counts
            .iter()
            .map(|(name, count)| format!("{count} {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
