//! Progress of long steps (a fine-tune, a fill, DLRM epochs), shared by the crates that run
//! them.
//!
//! On a terminal, [`Progress`] is an indicatif bar. When standard error is not a terminal (CI,
//! `nohup`, a pipe into a log file) a bar draws nothing, so instead it prints one line at most
//! every [`LOG_EVERY`]: what runs, done/total, the rate, the time left, and the latest message;
//! and always one line when it finishes.
//!
//! ```
//! let p = rec_progress::Progress::new(true, 3, "imputing cells", "{bar:30} {pos}/{len}");
//! for _ in 0..3 {
//!     p.inc(1);
//! }
//! p.finish_and_clear();
//! ```

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// The longest a log-mode progress stays silent while work advances.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// A progress display: a bar on a terminal, lines in a log, or nothing.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    log: Option<Mutex<LogLine>>,
}

impl Progress {
    /// Shows nothing.
    pub fn hidden() -> Self {
        Progress { bar: ProgressBar::hidden(), log: None }
    }

    /// Progress over `len` units of `what` when `show` is set: on a terminal a bar drawn with
    /// the indicatif `template` (the plain default when it does not parse), elsewhere log lines.
    pub fn new(show: bool, len: u64, what: &str, template: &str) -> Self {
        if !show {
            return Self::hidden();
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(len);
            bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            return Progress { bar, log: None };
        }
        Progress { bar: ProgressBar::hidden(), log: Some(Mutex::new(LogLine::new(what, len, Instant::now()))) }
    }

    /// Sets the text after the counts (`{prefix}` in a bar's template).
    pub fn set_prefix(&self, prefix: impl Into<String>) {
        let prefix = prefix.into();
        self.with_log(|l| l.prefix.clone_from(&prefix));
        self.bar.set_prefix(prefix);
    }

    /// Advances by `n`.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.with_log(|l| {
            l.pos += n;
            l.emit_if_due(Instant::now());
        });
    }

    /// Moves to `pos` (a resumed run starts past 0); the rate counts from there.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        self.with_log(|l| {
            l.pos = pos;
            l.start_pos = pos;
        });
    }

    /// Changes the total (a run whose budget was re-planned on the way).
    pub fn set_length(&self, len: u64) {
        self.bar.set_length(len);
        self.with_log(|l| l.len = len);
    }

    /// The latest message (`{msg}` in a bar's template; the end of a log line).
    pub fn set_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        self.with_log(|l| l.msg.clone_from(&msg));
        self.bar.set_message(msg);
    }

    /// Prints a line above the bar (or in the log).
    pub fn println(&self, line: impl AsRef<str>) {
        if self.log.is_some() {
            eprintln!("{}", line.as_ref());
        } else {
            self.bar.println(line.as_ref());
        }
    }

    /// Finishes, leaving the bar with `msg` (a log gets its last line).
    pub fn finish_with_message(&self, msg: impl Into<String>) {
        let msg = msg.into();
        self.with_log(|l| {
            l.msg.clone_from(&msg);
            eprintln!("{}", l.line(Instant::now()));
        });
        self.bar.finish_with_message(msg);
    }

    /// Finishes and removes the bar (a log gets its last line).
    pub fn finish_and_clear(&self) {
        self.with_log(|l| eprintln!("{}", l.line(Instant::now())));
        self.bar.finish_and_clear();
    }

    /// Stops where it is, after a failure (no last log line).
    pub fn abandon(&self) {
        self.bar.abandon();
    }

    fn with_log(&self, f: impl FnOnce(&mut LogLine)) {
        if let Some(log) = &self.log {
            if let Ok(mut l) = log.lock() {
                f(&mut l);
            }
        }
    }
}

/// The state of log-mode progress.
#[derive(Debug)]
struct LogLine {
    what: String,
    prefix: String,
    len: u64,
    pos: u64,
    start_pos: u64,
    started: Instant,
    last: Instant,
    msg: String,
}

impl LogLine {
    fn new(what: &str, len: u64, now: Instant) -> Self {
        LogLine {
            what: what.to_string(),
            prefix: String::new(),
            len,
            pos: 0,
            start_pos: 0,
            started: now,
            last: now,
            msg: String::new(),
        }
    }

    /// Prints the line when [`LOG_EVERY`] has passed since the last one.
    fn emit_if_due(&mut self, now: Instant) {
        if let Some(line) = self.due(now) {
            eprintln!("{line}");
        }
    }

    fn due(&mut self, now: Instant) -> Option<String> {
        (now.duration_since(self.last) >= LOG_EVERY).then(|| {
            self.last = now;
            self.line(now)
        })
    }

    /// `what prefix: pos/len (pct%), rate/s, elapsed, ETA; msg`.
    fn line(&self, now: Instant) -> String {
        let secs = now.duration_since(self.started).as_secs_f64();
        let rate = (self.pos - self.start_pos.min(self.pos)) as f64 / secs.max(1e-9);
        let left = self.len.saturating_sub(self.pos) as f64;
        let eta = if rate > 0.0 { format!("{:.0}s", left / rate) } else { "?".into() };
        let pct = if self.len > 0 { 100.0 * self.pos as f64 / self.len as f64 } else { 100.0 };
        let mut out = self.what.clone();
        if !self.prefix.is_empty() {
            out.push(' ');
            out.push_str(&self.prefix);
        }
        out.push_str(&format!(": {}/{} ({pct:.0}%), {rate:.2}/s, {secs:.0}s elapsed, ETA {eta}", self.pos, self.len));
        if !self.msg.is_empty() {
            out.push_str("; ");
            out.push_str(&self.msg);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_comes_every_interval_with_counts_rate_and_eta() {
        let t0 = Instant::now();
        let mut l = LogLine::new("fine-tuning", 200, t0);
        l.pos = 10;
        assert_eq!(l.due(t0 + Duration::from_secs(3)), None, "quiet within the interval");
        l.pos = 50;
        l.msg = "loss 1.2345".into();
        let line = l.due(t0 + LOG_EVERY).expect("due after the interval");
        assert_eq!(line, "fine-tuning: 50/200 (25%), 5.00/s, 10s elapsed, ETA 30s; loss 1.2345");
        assert_eq!(l.due(t0 + LOG_EVERY + Duration::from_secs(1)), None, "the clock restarts");
        // A resumed run counts its rate from where it resumed.
        let mut r = LogLine::new("steps", 100, t0);
        r.prefix = "epoch 2/5".into();
        r.start_pos = 40;
        r.pos = 60;
        assert_eq!(r.line(t0 + Duration::from_secs(4)), "steps epoch 2/5: 60/100 (60%), 5.00/s, 4s elapsed, ETA 8s");
        let none = LogLine::new("x", 0, t0);
        assert!(none.line(t0).contains("0/0 (100%)") && none.line(t0).contains("ETA ?"));
    }

    #[test]
    fn log_mode_is_chosen_off_a_terminal_and_tracks_the_calls() {
        let p = Progress::new(true, 4, "cells", "{bar}");
        assert_eq!(p.log.is_some(), !std::io::stderr().is_terminal());
        p.set_position(1);
        p.set_prefix("a");
        p.set_message("m");
        p.inc(2);
        p.set_length(7);
        if let Some(log) = &p.log {
            let l = log.lock().unwrap();
            assert_eq!((l.pos, l.start_pos, l.len, l.prefix.as_str(), l.msg.as_str()), (3, 1, 7, "a", "m"));
        }
        p.finish_with_message("done");
        assert!(Progress::new(false, 4, "cells", "{bar}").log.is_none(), "not shown: no log either");
        let h = Progress::hidden();
        h.inc(1);
        h.finish_and_clear();
        assert!(h.log.is_none());
    }
}
